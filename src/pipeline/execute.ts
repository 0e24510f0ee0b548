/**
 * Running one stage for the walker: a cacheable stage runs under its key's lock into a temp folder
 * of the cache, committed when `run` resolves and discarded when it throws; a non-cacheable one
 * runs into a scratch folder. A full disk or a read-only folder becomes an error naming the path.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KdqError } from '../errors.ts';
import { ioError, isStorageError } from '../util/atomic.ts';
import type { Cache } from './cache.ts';
import type { Stage } from './graph.ts';
import { acquireLock, type LockOptions } from './lock.ts';
import type { StageEvent, StageStatus } from './results.ts';
import type { StageDefinition, StageInput } from './stage.ts';

export interface ExecuteOptions {
  key: string;
  details: Record<string, string>;
  inputs: Record<string, StageInput>;
  cache: Cache;
  /** Look the key up again once the lock is held (false when the stage is forced to rerun). */
  lookupAgain: boolean;
  /** When the walker started on this stage (performance.now()), for the entry's metadata. */
  started: number;
  /** Root of the scratch folders of non-cacheable stages, created on first use and shared by the walk. */
  scratch: { dir?: string };
  emit: (e: StageEvent) => void;
  signal?: AbortSignal;
  lock?: Omit<LockOptions, 'signal' | 'onWait'>;
}

export interface Executed {
  status: Extract<StageStatus, 'ran' | 'cached'>;
  outDir: string;
  /** Set when the outcome needs a reason other than the decision's (another process computed it). */
  reason?: string;
}

export async function executeStage(stage: Stage, def: StageDefinition, o: ExecuteOptions): Promise<Executed> {
  const ctx = {
    stage,
    config: stage.config,
    key: o.key,
    inputs: o.inputs,
    log: (message: string) => o.emit({ type: 'log', id: stage.id, message }),
    signal: o.signal ?? new AbortController().signal,
  };
  if (!def.cacheable) {
    o.scratch.dir ??= await mkdtemp(join(tmpdir(), 'kdq-scratch-'));
    const outDir = join(o.scratch.dir, stage.id.replace(/[^A-Za-z0-9@._-]/g, '_'));
    await rm(outDir, { recursive: true, force: true });
    await mkdir(outDir, { recursive: true });
    await def.run({ ...ctx, outDir }).catch((e: unknown) => {
      throw storageFailure(e, outDir);
    });
    return { status: 'ran', outDir };
  }
  const lock = await acquireLock(o.cache.lockPath(o.key), {
    ...o.lock,
    signal: o.signal,
    onWait: (holder) => o.emit({ type: 'wait', id: stage.id, key: o.key, holder }),
  });
  try {
    // Another process may have committed this key while we waited for the lock.
    const hit = o.lookupAgain ? await o.cache.get(o.key, { deep: true }) : null;
    if (hit) return { status: 'cached', outDir: hit, reason: 'computed by another process while this one waited for the lock' };
    const tmp = await o.cache.tmpDir(o.key);
    try {
      await def.run({ ...ctx, outDir: tmp });
      const meta = {
        stage: stage.id,
        kind: stage.kind,
        role: stage.role,
        seed: stage.seed,
        details: o.details,
        seconds: (performance.now() - o.started) / 1000,
      };
      return { status: 'ran', outDir: await o.cache.commit(o.key, tmp, meta) };
    } catch (e) {
      await o.cache.discard(tmp); // a thrown error leaves no half-written entry
      throw storageFailure(e, tmp);
    }
  } finally {
    await lock.release();
  }
}

/**
 * A full disk or a read-only folder while a stage writes its outputs is the user's to fix: say
 * which file (or, when the error does not name one, which output folder) and what to do, rather
 * than reporting a bare errno as a bug.
 */
function storageFailure(e: unknown, outDir: string): unknown {
  if (e instanceof KdqError || !isStorageError(e)) return e;
  return ioError((e as NodeJS.ErrnoException).path ?? outDir, e);
}
