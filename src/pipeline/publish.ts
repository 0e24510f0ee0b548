/**
 * What a run folder receives: the stage the graph names as its publisher (`StageGraph.publish`)
 * writes PUBLISH_FILE, a list of files to copy from stage outputs; publishing copies them into a
 * new run folder with the run's stages.json and whatever else the caller adds, then moves it into
 * place. The engine knows nothing of what the files are.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KdqError } from '../errors.ts';
import type { Cache } from './cache.ts';
import type { StageGraph } from './graph.ts';
import type { RunResult } from './results.ts';
import { createRunFolder } from './run-folder.ts';
import { writeStages, type SweepPointRef } from './stages-file.ts';

export const PUBLISH_FILE = 'publish.json';

/** Files a run folder gets: each one's path there, and the stage output it is copied from. */
export type PublishList = { path: string; stage: string; file: string }[];

/** The run a file is being published into: what a transform may write into it that the stage could not know. */
export interface PublishedRun {
  /** The run folder's name (`YYYYMMDD-HHMMSS-<4 hex>`). */
  id: string;
  startedAt: Date;
  /** When the files are copied (stages.json's `finishedAt`). */
  publishedAt: Date;
}

/**
 * Rewrites a file of the publish list on its way into the run folder (the stage output in the
 * cache stays as it is); returns the file unchanged when it has nothing to add.
 */
export type PublishTransform = (path: string, data: Uint8Array, run: PublishedRun) => Uint8Array;

export interface PublishOptions {
  /** Files copied out of its entries are checked against their manifests as they are read. */
  cache: Cache;
  runsDir: string;
  name: string;
  graph: StageGraph;
  result: RunResult;
  /** Files the caller writes itself (e.g. the resolved config), path -> contents. */
  extra?: Record<string, string | Uint8Array>;
  /** When the run started, for stages.json (default: when its walk started). */
  startedAt?: Date;
  /** The sweep point this run is, for stages.json. */
  sweep?: SweepPointRef;
  /** Applied to every file of the publish list (not to `extra`). */
  transform?: PublishTransform;
}

/** Publishes a finished walk as `runs/<name>/<run-id>/` and points `latest` at it; returns its path. */
export async function publishRun(o: PublishOptions): Promise<string> {
  const byId = new Map(o.result.stages.map((r) => [r.id, r]));
  const outDir = (id: string): string => {
    const dir = byId.get(id)?.outDir;
    if (!dir) throw new KdqError('E_INTERNAL', `cannot publish the output of stage ${id}: it has no output folder in this run`);
    return dir;
  };
  const list: PublishList =
    o.graph.publish === undefined ? [] : (JSON.parse(await readFile(join(outDir(o.graph.publish), PUBLISH_FILE), 'utf8')) as PublishList);
  const folder = await createRunFolder(o.runsDir, o.name);
  // One clock reading for stages.json and the transform, so a report's duration matches stages.json.
  const publishedAt = new Date();
  const run: PublishedRun = { id: folder.id, startedAt: o.startedAt ?? new Date(publishedAt.getTime() - o.result.seconds * 1000), publishedAt };
  for (const f of list) {
    const data = await o.cache.readOutput(outDir(f.stage), f.file);
    await folder.writeFile(f.path, o.transform ? o.transform(f.path, data, run) : data);
  }
  for (const [path, data] of Object.entries(o.extra ?? {})) await folder.writeFile(path, data);
  await writeStages(folder, o.result, { runsDir: o.runsDir, startedAt: run.startedAt, finishedAt: publishedAt, sweep: o.sweep });
  await folder.finish();
  return folder.dir;
}
