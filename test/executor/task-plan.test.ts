import { describe, expect, it } from 'vitest';
import { loadExperiment } from '../../src/config/load.ts';
import { flowTree } from '../../src/executor/bullmq.ts';
import { buildTaskPlan, dependentsOf } from '../../src/executor/task-plan.ts';
import type { TaskPlan } from '../../src/executor/types.ts';
import { planExperiment } from '../../src/stages/plan.ts';
import type { RunResult } from '../../src/pipeline/run.ts';

const MICRO = new URL('./micro.yaml', import.meta.url).pathname;

/** A dry run where every stage would run, with keys that depend only on the listed config parts. */
function fakeDryRun(graph: ReturnType<typeof planExperiment>, keyOf: (id: string) => string): RunResult {
  return {
    ok: true,
    seconds: 0,
    stages: Object.values(graph.stages).map((s) => ({
      id: s.id,
      kind: s.kind,
      key: keyOf(s.id),
      details: {},
      status: 'would-run' as const,
      seconds: 0,
      outDir: null,
      reason: '',
    })),
  };
}

describe('buildTaskPlan', () => {
  it('merges the stages two sweep points share into one task, and leaves out non-cacheable ones', async () => {
    const points = [];
    for (const t of [2, 8]) {
      const loaded = await loadExperiment(MICRO, { set: [`distillation.temperature=${t}`] });
      const graph = planExperiment(loaded.experiment);
      // Like real keys: the teacher side does not depend on the temperature, the student side does.
      const shared = new Set(['data', 'teacher@s1', 'soft-labels@s1', 'export:teacher@s1', 'evaluate:teacher@s1']);
      const dryRun = fakeDryRun(graph, (id) => (shared.has(id) ? `k-${id}` : `k-${id}-t${t}`));
      points.push({ experiment: loaded.experiment, baseDir: loaded.dir, graph, dryRun });
    }
    const plan = buildTaskPlan(points, (kind) => kind !== 'report', 'wasm');
    const ids = plan.order.map((k) => plan.tasks[k]!.stageId);
    expect(ids.filter((id) => id === 'teacher@s1')).toHaveLength(1);
    expect(ids.filter((id) => id === 'student@s1')).toHaveLength(2);
    expect(ids).not.toContain('report');
    expect(plan.order).toHaveLength(5 + 2 * 5);
    const position = new Map(plan.order.map((k, i) => [k, i]));
    for (const k of plan.order) for (const d of plan.tasks[k]!.deps) expect(position.get(d)!).toBeLessThan(position.get(k)!);
    expect(plan.tasks['k-student@s1-t8']!.deps.sort()).toEqual(['k-data', 'k-soft-labels@s1']);
    expect(plan.tasks['k-student@s1-t8']!.experiment.distillation.temperature).toBe(8);
    expect([...dependentsOf(plan, 'k-teacher@s1')]).toContain('k-evaluate:student_int8@s1-t2');
  });
});

describe('flowTree', () => {
  const task = (key: string, deps: string[]) => ({
    key,
    stageId: key,
    kind: 'teacher' as const,
    experiment: {} as never,
    baseDir: '/',
    backend: 'wasm' as const,
    deps,
  });
  it('hangs each task under its first dependent and the rest under the root', () => {
    const plan: TaskPlan = {
      tasks: { d: task('d', []), t: task('t', ['d']), s: task('s', ['t', 'd']), e: task('e', ['t']), x: task('x', []) },
      order: ['d', 't', 's', 'e', 'x'],
    };
    expect(flowTree(plan)).toEqual({ roots: ['s', 'e', 'x'], children: { d: [], t: ['d'], s: ['t'], e: [], x: [] } });
  });
});
