/**
 * `kdq runs rm`: deletes run folders, and only them. Cache entries stay, so no other run loses an
 * input; the entries no remaining run folder refers to are counted, and the next `kdq cache gc`
 * frees them. An experiment's `latest` that pointed at a removed run moves to its newest remaining
 * run (or goes, with the experiment's folder once it is empty).
 */
import { readdir, readlink, rmdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Cache } from '../pipeline/cache.ts';
import { pointLatest, removeRunFolder } from '../pipeline/run-folder.ts';
import { readStages } from '../pipeline/stages-file.ts';
import { bytesText } from '../report/units.ts';
import { folderBytes } from '../util/folder-bytes.ts';
import { findRuns } from './find.ts';
import type { RunRecord } from './record.ts';

export interface RemoveOptions {
  runsDir: string;
  cacheDir: string;
  /** List what would be removed; remove nothing. */
  dryRun?: boolean;
}

const KEY = /^[0-9a-f]{64}$/;

async function stageKeys(dir: string, runsDir: string): Promise<string[]> {
  return ((await readStages(dir, runsDir))?.stages ?? []).map((s) => s.key).filter((k) => KEY.test(k));
}

/** After removals in an experiment's folder: `latest` names a run that exists, or is gone with the emptied folder. */
async function repairLatest(base: string): Promise<void> {
  const target = await readlink(join(base, 'latest')).catch(() => null);
  if (target !== null && (await stat(join(base, target, 'metrics.json')).catch(() => null))) return;
  const runs: string[] = [];
  for (const name of (await readdir(base).catch(() => [] as string[])).sort()) {
    if (name !== 'latest' && !name.startsWith('.') && (await stat(join(base, name, 'metrics.json')).catch(() => null))) runs.push(name);
  }
  // Run ids sort by time: the last is the newest.
  if (target !== null || runs.length > 0) await pointLatest(base, runs.at(-1) ?? null);
  if ((await readdir(base).catch(() => ['?'])).length === 0) await rmdir(base).catch(() => undefined);
}

/** Removes (or with `dryRun` lists) the run folders of `records`; returns what it did, for people. */
export async function removeRuns(records: RunRecord[], opts: RemoveOptions): Promise<string> {
  const removing = new Set(records.map((r) => r.dir));
  const sizes = await Promise.all(records.map((r) => folderBytes(r.dir)));
  const keys = new Set((await Promise.all(records.map((r) => stageKeys(r.dir, opts.runsDir)))).flat());
  // What the runs that stay refer to, read before anything is removed.
  for (const other of findRuns(opts.runsDir, [])) {
    if (removing.has(other.dir)) continue;
    for (const k of await stageKeys(other.dir, opts.runsDir)) keys.delete(k);
  }
  const lines = [`${opts.dryRun ? 'would remove' : 'removed'} ${records.length} run folder${records.length === 1 ? '' : 's'} (${bytesText(sizes.reduce((a, b) => a + b, 0))}):`];
  for (const [i, r] of records.entries()) {
    if (!opts.dryRun) await removeRunFolder(r.dir);
    lines.push(`  ${r.ref}  ${r.label !== r.name ? `${r.label}  ` : ''}${bytesText(sizes[i]!)}`);
  }
  if (!opts.dryRun) for (const base of new Set(records.map((r) => dirname(r.dir)))) await repairLatest(base);

  const cache = new Cache(opts.cacheDir);
  let entries = 0;
  let bytes = 0;
  for (const k of keys) {
    const dir = cache.entryDir(k);
    if (!(await stat(dir).catch(() => null))?.isDirectory()) continue;
    entries++;
    bytes += await folderBytes(dir);
  }
  lines.push(
    entries === 0
      ? 'no cache entry is freed: the remaining runs use every entry these runs used (or they are gone already)'
      : `cache entries are kept: ${entries} of them (${bytesText(bytes)}) no remaining run folder uses; 'kdq cache gc' frees them`,
  );
  return lines.join('\n');
}
