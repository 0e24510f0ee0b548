/**
 * One experiment, from its loaded config to its run folder: plan the stages, let an executor fill
 * the cache when asked (`--jobs`, BullMQ), walk the graph in this process, publish the run folder.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify as yamlStringify } from 'yaml';
import type { LoadedExperiment } from './config/load.ts';
import { KdqError } from './errors.ts';
import type { ExecutorName } from './names.ts';
import type { StageGraph } from './pipeline/graph.ts';
import { publishRun } from './pipeline/publish.ts';
import type { RunResult, StageEvent } from './pipeline/results.ts';
import { runGraph } from './pipeline/run.ts';
import { readLatestStages, relativeToRuns, type SweepPointRef } from './pipeline/stages-file.ts';
import type { Metrics } from './report/metrics.ts';
import { runHeaderTransform } from './report/run-header.ts';
import type { TaskOutcome } from './executor/types.ts';
import { planExperiment } from './stages/plan.ts';
import type { KdStage } from './stages/plan.ts';
import { ensureWritableDir } from './util/atomic.ts';
import { gitState } from './util/git-state.ts';
import { kdqVersion } from './util/kdq-version.ts';
import type { Workspace } from './workspace.ts';

/** A loaded experiment and its stage graph. */
export interface PlannedExperiment {
  loaded: LoadedExperiment;
  graph: StageGraph<KdStage>;
}

export function planLoaded(loaded: LoadedExperiment): PlannedExperiment {
  return { loaded, graph: planExperiment(loaded.experiment) };
}

/** How stages are computed before the walk: in this process only, or by an executor's workers. */
export interface ExecutorChoice {
  /**
   * Worker processes of the local executor; 1 (the default of the API) walks the graph in this
   * process only; `auto` (the CLI's default) one per core, except where only this process can run
   * the stages (--force, --force-stage, a dry run).
   */
  jobs?: number | 'auto';
  /**
   * Most threads each stage's kernels use (`--kernel-threads`): in this process (openWorkspace
   * sets it) and in each worker process, where the local executor gives each running stage its
   * share of the cores. Default 1.
   */
  kernelThreads?: number;
  /** `local` (worker processes on this machine) or `bullmq` (workers anywhere, through Redis). */
  executor?: ExecutorName;
  /** `redis://HOST:PORT` of the BullMQ executor. */
  redis?: string;
}

export interface WalkChoice {
  force?: boolean;
  forceStages?: string[];
  dryRun?: boolean;
}

/** What the run folder records about the run besides its stages. */
export interface PublishChoice {
  /** When `kdq run` started (default: when the walk started). */
  startedAt?: Date;
  /** The sweep point this run is. */
  sweepPoint?: SweepPointRef;
}

export interface RunOutcome {
  /** Null on a dry run. */
  runDir: string | null;
  /** The run folder's metrics.json; null on a dry run. */
  metrics: Metrics | null;
  result: RunResult;
}

/** Walks the experiment's graph in this process, reusing every cached stage. */
export async function walk(ws: Workspace, p: PlannedExperiment, opts: WalkChoice & { log?: (line: string) => void } = {}): Promise<RunResult> {
  const log = opts.log ?? (() => undefined);
  return runGraph(p.graph, await ws.definitions(p.loaded.dir), {
    cache: ws.cache,
    env: ws.keyEnv,
    force: opts.force,
    forceStages: opts.forceStages,
    dryRun: opts.dryRun,
    previous: (await readLatestStages(ws.runsDir, p.loaded.experiment.name)) ?? undefined,
    onEvent: (e) => describe(e, log),
  });
}

/**
 * Runs an experiment whose cache an executor may have filled already (see executor/fill-cache.ts);
 * writes runs/<name>/<run-id>/ and points latest at it (not on a dry run).
 */
export async function runPlanned(
  ws: Workspace,
  p: PlannedExperiment,
  opts: WalkChoice & PublishChoice & { computed?: Map<string, TaskOutcome> },
): Promise<RunOutcome> {
  if (!opts.dryRun) {
    // A read-only or full runs folder fails now, not after the training it would have stored.
    await ensureWritableDir(ws.runsDir);
    await ws.cache.claim(); // the cache folder is kdq's and writable (pipeline/cache-root.ts)
  }
  // The commit the experiment was run from, as it is now, before a long walk (never an error: see util/git-state.ts).
  const git = opts.dryRun ? null : await gitState(p.loaded.dir);
  const result = creditExecutor(await walk(ws, p, { ...opts, log: ws.log }), opts.computed);
  if (opts.dryRun) return { runDir: null, metrics: null, result };
  await ws.cache.cleanLocks();
  const exp = p.loaded.experiment;
  const version = await kdqVersion();
  const runDir = await publishRun({
    cache: ws.cache,
    runsDir: ws.runsDir,
    name: exp.name,
    graph: p.graph,
    result,
    // Relative, so a run folder copied elsewhere says the same; data paths below are relative to that file.
    extra: { 'config.yaml': `# resolved from ${relativeToRuns(ws.runsDir, p.loaded.file)} (relative to the runs folder)\n${yamlStringify(exp)}` },
    startedAt: opts.startedAt,
    sweep: opts.sweepPoint,
    // The reports' run header: facts that differ between identical runs, so the cached reports leave a marker for them.
    transform: runHeaderTransform(version, git),
  });
  return { runDir, metrics: await readMetrics(runDir), result };
}

/**
 * A stage an executor's worker computed for this run is found cached by the walk that follows; the
 * run's stages.json says it ran (where, and how long it took) rather than that it was a cache hit.
 * Each computed key is credited once and taken out of `computed`: in a sweep, the first point that
 * uses a shared teacher ran it, the others found it cached.
 */
export function creditExecutor(result: RunResult, computed: Map<string, TaskOutcome> | undefined): RunResult {
  if (!computed || computed.size === 0) return result;
  const stages = result.stages.map((s) => {
    const o = s.status === 'cached' ? computed.get(s.key) : undefined;
    if (o?.status !== 'ran') return s;
    computed.delete(s.key);
    return { ...s, status: 'ran' as const, seconds: o.seconds, reason: `computed for this run by ${o.worker ?? 'a worker'}` };
  });
  return { ...result, stages };
}

async function readMetrics(runDir: string): Promise<Metrics> {
  const file = join(runDir, 'metrics.json');
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Metrics;
  } catch (e) {
    throw new KdqError('E_INTERNAL', `the run published no readable ${file}: ${(e as Error).message}`, { cause: e });
  }
}

/** A walk's events as the lines `kdq run` prints. */
export function describe(e: StageEvent, log: (line: string) => void): void {
  if (e.type === 'start') log(`${e.id}: running (${e.reason})`);
  else if (e.type === 'wait') log(`${e.id}: waiting for another kdq process (pid ${e.holder?.pid ?? '?'}) computing the same stage`);
  else if (e.type === 'log') log(e.message);
  else if (e.type === 'end') {
    const r = e.result;
    if (r.status === 'cached') log(`${r.id}: cached`);
    else if (r.status === 'ran') log(`${r.id}: ran in ${r.seconds.toFixed(1)} s`);
    else if (r.status === 'failed') log(`${r.id}: failed: ${r.error ?? r.reason}`);
    else if (r.status === 'skipped') log(`${r.id}: skipped (${r.reason})`);
  }
}
