/**
 * From dry runs to tasks, pure: every cacheable stage that would run becomes a task keyed by its
 * cache key, so a stage shared by several experiments (the teacher of a temperature sweep) is one
 * task, computed once.
 */
import type { Experiment } from '../config/types.ts';
import type { BackendName } from '../names.ts';
import type { StageGraph } from '../pipeline/graph.ts';
import type { RunResult } from '../pipeline/results.ts';
import type { StageTask, TaskPlan } from './types.ts';

/** An experiment's graph with the keys and statuses of a dry run of it. */
export interface DryRunExperiment {
  experiment: Experiment;
  baseDir: string;
  graph: StageGraph;
  /** `runGraph(..., { dryRun: true })` of `graph`: keys and statuses. */
  dryRun: RunResult;
}

/** Tasks of every experiment, deduplicated by key, in an order where each follows its deps. */
export function buildTaskPlan(items: DryRunExperiment[], cacheable: (kind: string) => boolean, backend: BackendName): TaskPlan {
  const tasks: Record<string, StageTask> = {};
  const order: string[] = [];
  for (const item of items) {
    const byId = new Map(item.dryRun.stages.map((r) => [r.id, r]));
    // dryRun.stages is in walk (topological) order, so a task's deps are already listed.
    for (const r of item.dryRun.stages) {
      if (r.status !== 'would-run' || !cacheable(r.kind) || r.key === '' || tasks[r.key]) continue;
      const stage = item.graph.stages[r.id]!;
      // Order-only prerequisites (`after`) are waited for like dependencies: a failed check skips the task.
      const deps = [...stage.deps, ...(stage.after ?? [])].map((d) => byId.get(d)?.key ?? '').filter((k) => k !== '' && tasks[k] !== undefined);
      tasks[r.key] = { key: r.key, stageId: r.id, kind: r.kind, experiment: item.experiment, baseDir: item.baseDir, backend, deps: [...new Set(deps)] };
      order.push(r.key);
    }
  }
  return { tasks, order };
}

/** Keys of the tasks that depend on `key`, directly or not. */
export function dependentsOf(plan: TaskPlan, key: string): Set<string> {
  const out = new Set<string>();
  for (const k of plan.order) {
    if (plan.tasks[k]!.deps.some((d) => d === key || out.has(d))) out.add(k);
  }
  return out;
}
