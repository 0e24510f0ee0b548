/**
 * With `--jobs N > 1` or `--executor bullmq`: computes every cacheable stage the experiments
 * would run, deduplicated by key, on the executor's workers. The walk that follows then finds them
 * cached and only assembles the report and the run folder. A stage that failed on a worker runs
 * again in the walk, which reports its error the usual way.
 */
import { availableParallelism } from 'node:os';
import { KdqError } from '../errors.ts';
import { PipelineError } from '../pipeline/pipeline-error.ts';
import type { ExecutorChoice, PlannedExperiment, WalkChoice } from '../run-experiment.ts';
import { walk } from '../run-experiment.ts';
import type { Workspace } from '../workspace.ts';
import { buildTaskPlan, type DryRunExperiment } from './task-plan.ts';
import type { Executor, TaskOutcome } from './types.ts';

/** Most worker processes `--jobs auto` starts: more cores than this are rare where kdq trains, and each worker holds the dataset. */
export const MAX_AUTO_JOBS = 4;

/** The worker processes `jobs` asks for: `auto` is one per core (at most MAX_AUTO_JOBS), or 1 where only this process can run the stages. */
export function resolveJobs(o: ExecutorChoice & WalkChoice, cores = availableParallelism()): number {
  if (o.jobs !== 'auto') return o.jobs ?? 1;
  if (o.dryRun || o.force || (o.forceStages ?? []).length > 0) return 1;
  return Math.max(1, Math.min(cores, MAX_AUTO_JOBS));
}

/** True when stages should be computed by an executor (worker processes or BullMQ) before the walk. */
export function usesExecutor(o: ExecutorChoice & WalkChoice): boolean {
  return o.executor === 'bullmq' || resolveJobs(o) > 1;
}

export async function fillCache(ws: Workspace, experiments: PlannedExperiment[], opts: ExecutorChoice & WalkChoice): Promise<Map<string, TaskOutcome>> {
  const outcomes = new Map<string, TaskOutcome>();
  if (!usesExecutor(opts) || opts.dryRun) return outcomes;
  if (opts.force || (opts.forceStages ?? []).length > 0) {
    throw new KdqError('E_USAGE', `--force and --force-stage run in this process only; drop --jobs/--executor, or run 'kdq cache gc' and rerun`);
  }
  if (opts.executor === 'bullmq' && !opts.redis) throw new KdqError('E_USAGE', '--executor bullmq needs --redis redis://HOST:PORT');
  const planned: DryRunExperiment[] = [];
  for (const p of experiments) {
    try {
      planned.push({ experiment: p.loaded.experiment, baseDir: p.loaded.dir, graph: p.graph, dryRun: await walk(ws, p, { dryRun: true }) });
    } catch (e) {
      // A stage that cannot even be keyed (missing data) fails in the walk with the usual message.
      if (!(e instanceof PipelineError)) throw e;
    }
  }
  const defs = experiments.length > 0 ? await ws.definitions(experiments[0].loaded.dir) : {};
  const plan = buildTaskPlan(planned, (kind) => defs[kind]?.cacheable === true, ws.backend.name);
  if (plan.order.length === 0) return outcomes;
  const log = ws.log;
  let executor: Executor;
  if (opts.executor === 'bullmq') {
    const { BullmqExecutor } = await import('./bullmq.ts');
    executor = new BullmqExecutor({ redis: opts.redis!, cacheDir: ws.cacheDir });
  } else {
    const { LocalExecutor } = await import('./local.ts');
    executor = new LocalExecutor({ jobs: resolveJobs(opts), kernelThreads: opts.kernelThreads ?? 1, cacheDir: ws.cacheDir, runsDir: ws.runsDir, log });
  }
  log(
    `${executor.name} executor: ${plan.order.length} stage(s) to compute${opts.executor === 'bullmq' ? ` through ${opts.redis}` : ` in ${Math.min(resolveJobs(opts), plan.order.length)} worker process(es)`}`,
  );
  try {
    const results = await executor.execute(plan, {
      onEvent: (e) => {
        if (e.type === 'start') log(`${e.task.stageId}: sent to ${e.worker}`);
        else if (e.type === 'progress') log(e.message);
        else if (e.type === 'end') {
          const o = e.outcome;
          if (o.status === 'failed') log(`${o.stageId}: failed on ${o.worker ?? 'a worker'}: ${o.error ?? ''}; it runs again here to report the error`);
          else if (o.status === 'skipped') log(`${o.stageId}: skipped (${o.error ?? ''})`);
          else log(`${o.stageId}: ${o.status === 'ran' ? `ran in ${o.seconds.toFixed(1)} s` : 'cached'} on ${o.worker ?? 'a worker'}`);
        }
      },
    });
    for (const o of results) outcomes.set(o.key, o);
  } finally {
    await executor.close();
  }
  return outcomes;
}
