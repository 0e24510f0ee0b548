/**
 * The walker: stages one at a time in topological order (training is CPU-bound), each either a
 * cache hit or run into a temp folder and committed under a per-key lock. A failing stage marks
 * its dependents skipped; independent branches still run (their results are cached and useful,
 * e.g. the other seeds), then a PipelineError carrying the whole result is thrown.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KdqError } from '../errors.ts';
import { ioError, isStorageError } from '../util/atomic.ts';
import type { StageKind } from '../names.ts';
import type { Cache } from './cache.ts';
import { selectStages, topologicalOrder, withDependents, type StageGraph } from './graph.ts';
import { diffDetails, stageKey, type StageEnv } from './hash.ts';
import { acquireLock, type LockInfo, type LockOptions } from './lock.ts';
import { PipelineError } from './pipeline-error.ts';
import type { StageDefinition, StageDefinitions } from './stage.ts';

export type StageStatus = 'cached' | 'ran' | 'would-run' | 'skipped' | 'failed';

export interface StageResult {
  id: string;
  kind: StageKind;
  /** Hex sha256; empty when it could not be computed (a dependency's fingerprint failed). */
  key: string;
  /** Hash of each key part (see StageKey). */
  details: Record<string, string>;
  status: StageStatus;
  /** Wall time spent on this stage by this run (hashing, cache lookup, running, committing). */
  seconds: number;
  /** The stage's output folder: its cache entry, or a scratch folder for non-cacheable stages; null if none. */
  outDir: string | null;
  /** Why it has this status, e.g. `no entry for key (config changed)`, `dependency teacher@s1 failed`. */
  reason: string;
  /** The error message of a failed stage. */
  error?: string;
}

export interface RunResult {
  ok: boolean;
  seconds: number;
  /** One result per stage, in the order they were walked. */
  stages: StageResult[];
}

export type StageEvent =
  | { type: 'start'; id: string; key: string; reason: string }
  | { type: 'wait'; id: string; key: string; holder: LockInfo | null }
  | { type: 'log'; id: string; message: string }
  | { type: 'end'; result: StageResult };

export interface RunOptions {
  cache: Cache;
  env: StageEnv;
  /** Rerun every stage. */
  force?: boolean;
  /** Rerun these stages (by id or kind) and everything depending on them. */
  forceStages?: string[];
  /** Compute keys and statuses only: what would run and why. */
  dryRun?: boolean;
  onEvent?: (e: StageEvent) => void;
  /** Shared in-process values (see StageContext.memo); a new Map by default. */
  memo?: Map<string, unknown>;
  /** The last run's result (its stages.json), so reasons can say which key part changed. */
  previous?: RunResult;
  signal?: AbortSignal;
  /** Where non-cacheable stages write (`<scratchDir>/<stage id>`); a new folder in the OS temp dir by default. */
  scratchDir?: string;
  lock?: Omit<LockOptions, 'signal' | 'onWait'>;
}

/** Runs (or, with `dryRun`, plans) every stage of `graph`; throws PipelineError if any stage failed. */
export async function runGraph(graph: StageGraph, defs: StageDefinitions, opts: RunOptions): Promise<RunResult> {
  const t0 = performance.now();
  const order = topologicalOrder(graph);
  for (const id of order) {
    const kind = graph.stages[id].kind;
    if (!defs[kind]) throw new KdqError('E_INTERNAL', `no stage definition for kind "${kind}" (stage "${id}"); register one in src/stages/`);
  }
  const forced = opts.force ? new Set(order) : withDependents(graph, selectStages(graph, opts.forceStages ?? []));
  const explicitlyForced = opts.force ? forced : selectStages(graph, opts.forceStages ?? []);
  const previous = new Map((opts.previous?.stages ?? []).map((s) => [s.id, s]));
  const memo = opts.memo ?? new Map<string, unknown>();
  const emit = opts.onEvent ?? (() => undefined);
  const { cache } = opts;
  if (!opts.dryRun) await cache.cleanTmp(); // leftovers of killed runs

  const results = new Map<string, StageResult>();
  const failures: Record<string, unknown> = {};
  let scratchRoot = opts.scratchDir;

  for (const id of order) {
    const stage = graph.stages[id];
    const def = defs[stage.kind] as StageDefinition;
    const started = performance.now();
    const res: StageResult = { id, kind: stage.kind, key: '', details: {}, status: 'skipped', seconds: 0, outDir: null, reason: '' };
    const finish = () => {
      res.seconds = (performance.now() - started) / 1000;
      results.set(id, res);
      emit({ type: 'end', result: res });
    };

    const blocked = stage.deps.map((d) => results.get(d) as StageResult).find((r) => r.status === 'failed' || r.status === 'skipped');
    if (opts.signal?.aborted) {
      res.reason = 'run cancelled';
      finish();
      continue;
    }

    try {
      const depKeys: Record<string, string> = {};
      for (const d of stage.deps) depKeys[d] = (results.get(d) as StageResult).key;
      if (stage.deps.every((d) => depKeys[d] !== '')) {
        const extra = def.fingerprint ? await def.fingerprint(stage.config, opts.env) : {};
        const key = stageKey(stage, def, depKeys, opts.env, extra);
        res.key = key.value;
        res.details = key.details;
      }
    } catch (e) {
      // A fingerprint that fails (a missing data file) fails the stage like its run would.
      if (!blocked) {
        fail(res, e, failures);
        finish();
        continue;
      }
    }
    if (blocked) {
      res.reason = `dependency ${blocked.id} ${blocked.status === 'failed' ? 'failed' : 'was skipped'}`;
      finish();
      continue;
    }

    const why = forced.has(id)
      ? explicitlyForced.has(id)
        ? opts.force
          ? 'forced (--force)'
          : 'forced (--force-stage)'
        : 'forced (depends on a forced stage)'
      : !def.cacheable
        ? 'not cacheable'
        : null;

    if (why === null) {
      const hit = await cache.get(res.key);
      if (hit) {
        res.status = 'cached';
        res.outDir = hit;
        res.reason = 'cache hit';
        finish();
        continue;
      }
    }
    const reason = why ?? missReason(res, previous.get(id));
    if (opts.dryRun) {
      res.status = 'would-run';
      res.reason = reason;
      finish();
      continue;
    }

    res.reason = reason;
    emit({ type: 'start', id, key: res.key, reason });
    const inputs: Record<string, string> = {};
    for (const d of stage.deps) inputs[d] = (results.get(d) as StageResult).outDir as string;
    const ctxBase = {
      stage,
      config: stage.config,
      key: res.key,
      inputs,
      inputKeys: Object.fromEntries(stage.deps.map((d) => [d, (results.get(d) as StageResult).key])),
      memo,
      log: (message: string) => emit({ type: 'log', id, message }),
      signal: opts.signal ?? new AbortController().signal,
    };
    try {
      if (def.cacheable) {
        const lock = await acquireLock(cache.lockPath(res.key), {
          ...opts.lock,
          signal: opts.signal,
          onWait: (holder) => emit({ type: 'wait', id, key: res.key, holder }),
        });
        try {
          // Another process may have committed this key while we waited for the lock.
          const hit = why === null ? await cache.get(res.key) : null;
          if (hit) {
            res.status = 'cached';
            res.outDir = hit;
            res.reason = 'computed by another process while this one waited for the lock';
          } else {
            const tmp = await cache.tmpDir(res.key);
            try {
              await def.run({ ...ctxBase, outDir: tmp });
              const meta = { stage: id, kind: stage.kind, role: stage.role, seed: stage.seed, details: res.details, seconds: (performance.now() - started) / 1000 };
              res.outDir = await cache.commit(res.key, tmp, meta);
            } catch (e) {
              await cache.discard(tmp); // a thrown error leaves no half-written entry
              throw storageFailure(e, tmp);
            }
            res.status = 'ran';
          }
        } finally {
          await lock.release();
        }
      } else {
        scratchRoot ??= await mkdtemp(join(tmpdir(), 'kdq-scratch-'));
        const outDir = join(scratchRoot, id.replace(/[^A-Za-z0-9@._-]/g, '_'));
        await rm(outDir, { recursive: true, force: true });
        await mkdir(outDir, { recursive: true });
        await def.run({ ...ctxBase, outDir }).catch((e: unknown) => {
          throw storageFailure(e, outDir);
        });
        res.outDir = outDir;
        res.status = 'ran';
      }
    } catch (e) {
      fail(res, e, failures);
    }
    finish();
  }

  const stages = order.map((id) => results.get(id) as StageResult);
  const result: RunResult = { ok: Object.keys(failures).length === 0 && !opts.signal?.aborted, seconds: (performance.now() - t0) / 1000, stages };
  if (Object.keys(failures).length > 0) {
    const skipped = stages.filter((s) => s.status === 'skipped').map((s) => s.id);
    const lines = Object.keys(failures).map((id) => `stage "${id}" failed: ${results.get(id)?.error}`);
    if (skipped.length > 0) lines.push(`skipped because of it: ${skipped.join(', ')}`);
    throw new PipelineError(lines.join('\n'), result, failures);
  }
  if (opts.signal?.aborted) {
    throw new PipelineError('run cancelled; stages done so far are cached, rerun to continue', result, { cancelled: opts.signal.reason });
  }
  return result;
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

function fail(res: StageResult, e: unknown, failures: Record<string, unknown>): void {
  res.status = 'failed';
  res.error = e instanceof Error ? e.message : String(e);
  res.reason = 'stage threw an error';
  failures[res.id] = e;
}

/** Why a cacheable stage has no entry, naming the key parts that differ from the last run. */
function missReason(res: StageResult, before: StageResult | undefined): string {
  if (!before || !before.key) return 'no entry for key (no earlier run to compare with)';
  if (before.key === res.key) return 'no entry for key (same key as the last run; its entry was removed)';
  const diff = diffDetails(res.details, before.details);
  return `no entry for key (${diff.join(', ')})`;
}
