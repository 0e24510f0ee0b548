/**
 * `stages.json` in a run folder: the RunResult of that run (keys, key details, statuses, timings)
 * and when it started and finished, so the next run can say which key part changed
 * (`RunOptions.previous`), `kdq runs` can show the run's date and wall time, and `kdq cache gc`
 * knows which entries the run uses (by key). Nothing in it depends on where the runs folder is:
 * output folders are written relative to the runs folder, so a run folder copied elsewhere (a CI
 * artifact) reads the same.
 */
import { readFile } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { readInputFileSync } from '../util/read-input-file.ts';
import type { RunFolder } from './run-folder.ts';
import type { RunResult } from './results.ts';

export const STAGES_FILE = 'stages.json';

/**
 * 2: `outDir` relative to the runs folder (null outside it), `startedAt`, `finishedAt` and
 * `sweep`. 1 (read too): absolute `outDir` paths, no times.
 */
export const STAGES_FORMAT = 2;

/** Which point of which sweep a run is (absent for a run of its own). */
export interface SweepPointRef {
  /** The sweep's id: its summary is `<runs>/<experiment>/sweeps/<id>/`. */
  id: string;
  /** The point's id, e.g. `p3`. */
  point: string;
  /** The point's values by key path, e.g. `{ "distillation.temperature": 5 }`. */
  params: Record<string, unknown>;
}

/** What stages.json holds besides the RunResult. */
export interface RunFacts {
  /** ISO time kdq started this run, before any stage was looked up. */
  startedAt: string;
  /** ISO time the run folder was written. */
  finishedAt: string;
  sweep?: SweepPointRef;
}

/** A parsed stages.json: the RunResult with output folders relative to the runs folder, and its facts (absent in format 1). */
export type StagesFile = RunResult & Partial<RunFacts> & { format: number };

/** `dir` relative to the runs folder with `/` separators, as stages.json records it. */
export function relativeToRuns(runsDir: string, dir: string): string {
  return relative(resolve(runsDir), dir).split(sep).join('/');
}

/**
 * An output folder as stages.json records it: relative to the runs folder when inside it (the
 * default cache, `.cache/ab/<key>`), else null: a non-cacheable stage's scratch folder is gone
 * after the run, and an entry of a cache elsewhere is named by its key.
 */
function insideRuns(runsDir: string, dir: string | null): string | null {
  if (dir === null) return null;
  const rel = relativeToRuns(runsDir, dir);
  return rel === '' || rel.startsWith('../') || rel === '..' || isAbsolute(rel) ? null : rel;
}

export interface WriteStagesOptions {
  /** The runs folder the output folders are written relative to. */
  runsDir: string;
  /** When the run started (default: when the walk started, `finished - result.seconds`). */
  startedAt?: Date;
  sweep?: SweepPointRef;
  /** Default: now. */
  finishedAt?: Date;
}

/** Writes `result` as the run folder's stages.json (atomically, like every run-folder file). */
export function writeStages(folder: RunFolder, result: RunResult, opts: WriteStagesOptions): Promise<string> {
  const finished = opts.finishedAt ?? new Date();
  const started = opts.startedAt ?? new Date(finished.getTime() - result.seconds * 1000);
  const stages = result.stages.map((s) => ({ ...s, outDir: insideRuns(opts.runsDir, s.outDir) }));
  const facts: RunFacts = { startedAt: started.toISOString(), finishedAt: finished.toISOString(), ...(opts.sweep ? { sweep: opts.sweep } : {}) };
  return folder.writeJson(STAGES_FILE, { format: STAGES_FORMAT, ...facts, ...result, stages });
}

/** A stages.json's text as its document, or null when it is not one kdq wrote; format 1's absolute output folders restated relative to `runsDir`. */
function parseStages(text: string, runsDir?: string): StagesFile | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return null;
  }
  const o = parsed as Partial<StagesFile> | null;
  if ((o?.format !== 1 && o?.format !== STAGES_FORMAT) || !Array.isArray(o.stages)) return null;
  if (o.format === 1 && runsDir !== undefined) {
    o.stages = o.stages.map((s) => (typeof s.outDir === 'string' && isAbsolute(s.outDir) ? { ...s, outDir: insideRuns(runsDir, s.outDir) } : s));
  }
  return o as StagesFile;
}

/**
 * The stages.json of the run folder `dir`, or null when it has none or it is unreadable (not a
 * kdq run folder, or damaged). Format 1's absolute output folders are restated relative to `runsDir`.
 */
export async function readStages(dir: string, runsDir?: string): Promise<StagesFile | null> {
  const text = await readFile(join(dir, STAGES_FILE), 'utf8').catch(() => null);
  return text === null ? null : parseStages(text, runsDir);
}

/** A stages.json of kdq's is tens of KB; one beyond this is not kdq's and is not read. */
const MAX_STAGES_BYTES = 16 * 1024 * 1024;

/** `readStages` without the event loop, for listings of many run folders (FIFOs and huge files are not read). */
export function readStagesSync(dir: string, runsDir?: string): StagesFile | null {
  let text: string;
  try {
    text = new TextDecoder().decode(readInputFileSync(join(dir, STAGES_FILE), { maxBytes: MAX_STAGES_BYTES, expected: "a kdq run's stages.json" }));
  } catch {
    return null;
  }
  return parseStages(text, runsDir);
}

/**
 * The RunResult of `runs/<name>/latest`, or null when there is no earlier run or its stages.json is
 * unreadable: explaining is a courtesy, so a damaged file never stops a run.
 */
export async function readLatestStages(runsDir: string, name: string): Promise<RunResult | null> {
  const o = await readStages(join(runsDir, name, 'latest'), runsDir);
  if (o === null) return null;
  const { format: _format, startedAt: _s, finishedAt: _f, sweep: _w, ...result } = o;
  return result;
}
