/**
 * The walker: stages one at a time in topological order (training is CPU-bound). For each it
 * gathers the facts (key, cache lookup, what was forced, how its dependencies ended), lets
 * decide.ts say what to do, and has execute.ts run it into a temp folder and commit it under a
 * per-key lock. A failing stage marks its dependents skipped; independent branches still run
 * (their results are cached and useful, e.g. the other seeds), then a PipelineError carrying the
 * whole result is thrown.
 */
import { basename, sep } from 'node:path';
import { KdqError } from '../errors.ts';
import type { Cache } from './cache.ts';
import { DamagedFileError } from './damaged-file.ts';
import { decide, needsLookup, type Forced } from './decide.ts';
import { executeStage, type Executed } from './execute.ts';
import { selectStages, topologicalOrder, withDependents, type Stage, type StageGraph } from './graph.ts';
import { stageKey, type KeyEnv } from './hash.ts';
import type { LockOptions } from './lock.ts';
import { PipelineError } from './pipeline-error.ts';
import type { RunResult, StageEvent, StageResult } from './results.ts';
import type { StageDefinition, StageDefinitions, StageInput } from './stage.ts';

export type { RunResult, StageEvent, StageResult, StageStatus } from './results.ts';

export interface WalkOptions {
  cache: Cache;
  env: KeyEnv;
  /** Rerun every stage. */
  force?: boolean;
  /** Rerun these stages (by id or kind) and everything depending on them. */
  forceStages?: string[];
  /** Compute keys and statuses only: what would run and why. */
  dryRun?: boolean;
  onEvent?: (e: StageEvent) => void;
  /** The last run's result (its stages.json), so reasons can say which key part changed. */
  previous?: RunResult;
  signal?: AbortSignal;
  /** Where non-cacheable stages write (`<scratchDir>/<stage id>`); a new folder in the OS temp dir by default. */
  scratchDir?: string;
  lock?: Omit<LockOptions, 'signal' | 'onWait'>;
}

/** Runs (or, with `dryRun`, plans) every stage of `graph`; throws PipelineError if any stage failed. */
export async function runGraph(graph: StageGraph, defs: StageDefinitions, opts: WalkOptions): Promise<RunResult> {
  const t0 = performance.now();
  const order = topologicalOrder(graph);
  for (const id of order) {
    const kind = graph.stages[id].kind;
    if (!defs[kind]) throw new KdqError('E_INTERNAL', `no stage definition for kind "${kind}" (stage "${id}"); register one in src/stages/`);
  }
  const forcedHow = forcedStages(graph, order, opts);
  const previous = new Map((opts.previous?.stages ?? []).map((s) => [s.id, s]));
  const emit = opts.onEvent ?? (() => undefined);
  const { cache } = opts;
  if (!opts.dryRun) {
    await cache.claim(); // the folder is kdq's (cache-root.ts)
    await cache.cleanTmp(); // leftovers of killed runs
  }

  const results = new Map<string, StageResult>();
  const failures: Record<string, unknown> = {};
  const scratch = { dir: opts.scratchDir };

  /**
   * Runs the stage of `res`. An input the stage finds damaged although its manifest matched (a
   * JSON file that does not parse) is treated like any corrupt entry: warned about, deleted and
   * recomputed, and the stage runs again. Each input is healed at most once per walk, so one that
   * comes out damaged again fails the stage with the file named.
   */
  const execute = async (res: StageResult, started: number, lookupAgain: boolean, healed: Set<string>): Promise<Executed> => {
    const stage = graph.stages[res.id];
    for (;;) {
      try {
        return await executeStage(stage, defs[stage.kind] as StageDefinition, {
          key: res.key,
          details: res.details,
          inputs: inputsOf(graph, stage, results),
          cache,
          lookupAgain,
          started,
          scratch,
          emit,
          signal: opts.signal,
          lock: opts.lock,
        });
      } catch (e) {
        const input = e instanceof DamagedFileError ? cachedInputHolding(stage, e.path) : undefined;
        if (!(e instanceof DamagedFileError) || !input || healed.has(input.id)) throw e;
        healed.add(input.id);
        await cache.discardDamaged(e.path, e.problem);
        await recompute(input, `its cache entry was damaged (${basename(e.path)}: ${e.problem})`, healed);
      }
    }
  };

  /** Computes again a stage whose entry was a cache hit earlier in this walk and turned out damaged. */
  const recompute = async (res: StageResult, reason: string, healed: Set<string>): Promise<void> => {
    const t0 = performance.now();
    res.reason = reason;
    emit({ type: 'start', id: res.id, key: res.key, reason });
    try {
      const done = await execute(res, t0, false, healed);
      res.status = done.status;
      res.outDir = done.outDir;
    } catch (e) {
      fail(res, e, failures);
      throw e;
    } finally {
      res.seconds += (performance.now() - t0) / 1000;
      emit({ type: 'end', result: res });
    }
  };

  /** The input of `stage` that was a cache hit and whose entry holds `file`. */
  const cachedInputHolding = (stage: Stage, file: string): StageResult | undefined =>
    stage.deps.map((d) => results.get(d) as StageResult).find((r) => r.status === 'cached' && r.outDir !== null && file.startsWith(r.outDir + sep));

  for (const id of order) {
    const stage = graph.stages[id];
    const def = defs[stage.kind] as StageDefinition;
    const started = performance.now();
    const res: StageResult = { id, kind: stage.kind, key: '', details: {}, config: stage.config, status: 'skipped', seconds: 0, outDir: null, reason: '' };
    const depResults = stage.deps.map((d) => results.get(d) as StageResult);
    // An order-only prerequisite (`after`) that failed blocks the stage as a dependency would.
    const blocker = [...depResults, ...(stage.after ?? []).map((a) => results.get(a) as StageResult)].find(
      (r) => r.status === 'failed' || r.status === 'skipped',
    );
    const cancelled = opts.signal?.aborted === true;
    let keyError: unknown = null;
    if (!cancelled && depResults.every((r) => r.key !== '')) {
      try {
        const extra = def.fingerprint ? await def.fingerprint(stage.config, opts.env) : {};
        const key = stageKey(stage, def, Object.fromEntries(depResults.map((r) => [r.id, r.key])), opts.env, extra);
        res.key = key.value;
        res.details = key.details;
      } catch (e) {
        keyError = e;
      }
    }
    const facts = {
      cancelled,
      blocked: blocker ? { id: blocker.id, status: blocker.status as 'failed' | 'skipped' } : null,
      keyError,
      forced: forcedHow.get(id) ?? null,
      cacheable: def.cacheable,
      dryRun: opts.dryRun === true,
      key: res.key,
      details: res.details,
      config: stage.config,
      previous: previous.get(id),
    };
    // A run re-hashes every file of an entry it uses (a few MB: cheap); a dry run only checks sizes and mtimes.
    const hit = needsLookup(facts) ? await cache.get(res.key, { deep: !opts.dryRun }) : null;
    const decision = decide({ ...facts, hit: hit !== null });
    res.reason = decision.reason;
    if (decision.action === 'fail') fail(res, decision.error, failures);
    else if (decision.action === 'reuse') {
      res.status = 'cached';
      res.outDir = hit;
    } else if (decision.action === 'plan') res.status = 'would-run';
    else if (decision.action === 'run') {
      emit({ type: 'start', id, key: res.key, reason: decision.reason });
      try {
        const done = await execute(res, started, facts.forced === null, new Set());
        res.status = done.status;
        res.outDir = done.outDir;
        if (done.reason) res.reason = done.reason;
      } catch (e) {
        fail(res, e, failures);
      }
    }
    res.seconds = (performance.now() - started) / 1000;
    results.set(id, res);
    emit({ type: 'end', result: res });
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

/** How each stage is forced: by --force, named by --force-stage, or downstream of a named one. */
function forcedStages(graph: StageGraph, order: string[], opts: WalkOptions): Map<string, Forced> {
  const out = new Map<string, Forced>();
  if (opts.force) {
    for (const id of order) out.set(id, 'force');
    return out;
  }
  const named = selectStages(graph, opts.forceStages ?? []);
  for (const id of withDependents(graph, named)) out.set(id, named.has(id) ? 'force-stage' : 'dependent');
  return out;
}

/** The stage's inputs by name: each upstream stage's plain data, output folder and key. */
function inputsOf(graph: StageGraph, stage: Stage, results: Map<string, StageResult>): Record<string, StageInput> {
  const out: Record<string, StageInput> = {};
  for (const [name, id] of Object.entries(stage.inputs)) {
    const up = graph.stages[id];
    const r = results.get(id) as StageResult;
    out[name] = { id, kind: up.kind, config: up.config, seed: up.seed, role: up.role, dir: r.outDir as string, key: r.key };
  }
  return out;
}

function fail(res: StageResult, e: unknown, failures: Record<string, unknown>): void {
  res.status = 'failed';
  res.error = e instanceof Error ? e.message : String(e);
  res.reason = 'stage threw an error';
  failures[res.id] = e;
}
