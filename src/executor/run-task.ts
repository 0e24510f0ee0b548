/**
 * Runs one task in a worker: re-plans the task's experiment, walks the subgraph of the stage and
 * its ancestors with the ordinary walker (ancestors are cache hits; one that is missing, e.g. a
 * dependency another worker is still computing, is waited for on its lock or computed here), and
 * checks that the key it computed is the key the submitter asked for. The stage code is the same
 * as in a local run, so the cache entry is the same too.
 */
import type { Writable } from 'node:stream';
import { hostname } from 'node:os';
import { KdqError } from '../errors.ts';
import type { BackendName } from '../names.ts';
import { subgraphFor } from '../pipeline/graph.ts';
import type { LockOptions } from '../pipeline/lock.ts';
import { PipelineError } from '../pipeline/pipeline-error.ts';
import { runGraph } from '../pipeline/run.ts';
import { planExperiment } from '../stages/plan.ts';
import { openWorkspace, type Workspace } from '../workspace.ts';
import type { StageTask, TaskOutcome } from './types.ts';

export interface TaskContext {
  /** The cache every worker and the submitter share. */
  cacheDir: string;
  /** The runs folder (its `.data` holds downloaded data). */
  runsDir: string;
  /** Training progress bars; a sink by default. */
  progress?: Writable;
  log?: (message: string) => void;
  signal?: AbortSignal;
  lock?: Omit<LockOptions, 'signal' | 'onWait'>;
  /** Names this worker in outcomes. */
  worker?: string;
}

/** One workspace per backend and folders for the life of the worker process, so datasets stay loaded between tasks. */
const workspaces = new Map<string, Workspace>();

function workspaceFor(backend: BackendName, ctx: TaskContext): Workspace {
  const id = `${backend}\0${ctx.cacheDir}\0${ctx.runsDir}`;
  let ws = workspaces.get(id);
  if (!ws) workspaces.set(id, (ws = openWorkspace({ backend, cacheDir: ctx.cacheDir, runsDir: ctx.runsDir, progress: ctx.progress, log: ctx.log })));
  return ws;
}

/** Computes `task` into the cache (or finds it there); a failing stage resolves as a `failed` outcome. */
export async function runTask(task: StageTask, ctx: TaskContext): Promise<TaskOutcome> {
  const t0 = performance.now();
  const worker = ctx.worker ?? `${hostname()} pid ${process.pid}`;
  const outcome = (status: TaskOutcome['status'], error?: string): TaskOutcome => ({
    key: task.key,
    stageId: task.stageId,
    status,
    seconds: (performance.now() - t0) / 1000,
    worker,
    ...(error !== undefined ? { error } : {}),
  });
  const graph = planExperiment(task.experiment);
  if (!graph.stages[task.stageId]) {
    throw new KdqError(
      'E_INTERNAL',
      `task ${task.key.slice(0, 12)} names stage "${task.stageId}", which the experiment does not plan; is this worker running the same kdq version as the submitter?`,
    );
  }
  const sub = subgraphFor(graph, [task.stageId]);
  const ws = workspaceFor(task.backend, ctx);
  let result;
  try {
    result = await runGraph(sub, await ws.definitions(task.baseDir), {
      cache: ws.cache,
      env: ws.keyEnv,
      signal: ctx.signal,
      lock: ctx.lock,
      onEvent: (e) => {
        if (e.type === 'start') ctx.log?.(`${e.id}: running (${e.reason})`);
        else if (e.type === 'wait') ctx.log?.(`${e.id}: waiting for pid ${e.holder?.pid ?? '?'} on ${e.holder?.host ?? '?'} computing the same stage`);
        else if (e.type === 'log') ctx.log?.(e.message);
      },
    });
  } catch (e) {
    if (!(e instanceof PipelineError)) throw e;
    const mine = e.result.stages.find((s) => s.id === task.stageId);
    const failed = e.result.stages.find((s) => s.status === 'failed');
    return outcome('failed', failed ? `${failed.id}: ${failed.error ?? failed.reason}` : (mine?.reason ?? e.message));
  }
  const mine = result.stages.find((s) => s.id === task.stageId)!;
  if (mine.key !== task.key) {
    throw new KdqError(
      'E_INTERNAL',
      `stage ${task.stageId}: this worker computed key ${mine.key.slice(0, 12)} but the submitter asked for ${task.key.slice(0, 12)} (key parts: ${Object.keys(mine.details).join(', ')}); run the same kdq version, backend and data on every machine`,
    );
  }
  return outcome(mine.status === 'ran' ? 'ran' : 'cached');
}
