/**
 * Runs that started and have not published their run folder: `<cache>/unfinished/*.json`, one per
 * run, written before its first stage and deleted once its run folder is in place. A record left
 * behind is a run that failed (a full disk, a crash, a kill); while its process lives it is a run
 * in progress. `kdq cache gc` keeps the entries such runs computed or used (no run folder refers to
 * them yet), so a failed run's work survives the gc its error message suggests.
 *
 * A later run of the same experiment that publishes retires the records of its failed
 * predecessors: its run folder now refers to what it still needs.
 */
import { randomBytes } from 'node:crypto';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic.ts';
import { stampState, thisProcess, type ProcessStamp } from '../util/process-identity.ts';
import { UNFINISHED_NAME_RE } from './cache-root.ts';
import type { Cache } from './cache.ts';

export const UNFINISHED_FOLDER = 'unfinished';

export interface UnfinishedRunRecord extends ProcessStamp {
  /** The experiment's name (its folder under the runs folder). */
  experiment: string;
  /** ISO time the run started. */
  startedAt: string;
}

export interface UnfinishedRun {
  path: string;
  record: UnfinishedRunRecord;
  startedMs: number;
  /** 'running': its process is alive here; 'failed': it is gone; 'unknown': it ran on another host. */
  state: 'running' | 'failed' | 'unknown';
}

export interface RunInProgress {
  /** The run published its folder: deletes its record and those of earlier failed runs of its experiment. */
  finish(): Promise<void>;
}

/** Records that a run of `experiment` started at `startedMs` (claims the cache). */
export async function beginRun(cache: Cache, experiment: string, startedMs: number = Date.now()): Promise<RunInProgress> {
  await cache.claim();
  const record: UnfinishedRunRecord = { ...thisProcess(), experiment, startedAt: new Date(startedMs).toISOString() };
  const path = join(cache.dir, UNFINISHED_FOLDER, `${startedMs}~${process.pid}~${randomBytes(4).toString('hex')}.json`);
  await writeFileAtomic(path, `${JSON.stringify(record, null, 1)}\n`);
  return {
    async finish() {
      await rm(path, { force: true });
      for (const r of await readUnfinishedRuns(cache.dir)) {
        if (r.record.experiment === experiment && r.state === 'failed' && r.startedMs <= startedMs) await rm(r.path, { force: true });
      }
    },
  };
}

/** The unfinished runs recorded in the cache at `cacheDir`, oldest first; unreadable records are skipped. */
export async function readUnfinishedRuns(cacheDir: string): Promise<UnfinishedRun[]> {
  const dir = join(cacheDir, UNFINISHED_FOLDER);
  const out: UnfinishedRun[] = [];
  for (const name of (await readdir(dir).catch(() => [] as string[])).sort()) {
    if (!UNFINISHED_NAME_RE.test(name) || name.startsWith('.')) continue;
    const path = join(dir, name);
    let record: UnfinishedRunRecord;
    try {
      record = JSON.parse(await readFile(path, 'utf8')) as UnfinishedRunRecord;
    } catch {
      continue; // being written (it is renamed into place whole) or not kdq's: never acted on
    }
    const startedMs = Date.parse(record.startedAt);
    if (typeof record.experiment !== 'string' || typeof record.pid !== 'number' || !Number.isFinite(startedMs)) continue;
    const s = stampState(record);
    out.push({ path, record, startedMs, state: s === 'alive' ? 'running' : s === 'gone' ? 'failed' : 'unknown' });
  }
  return out.sort((a, b) => a.startedMs - b.startedMs);
}
