/**
 * Order-only prerequisites (`Stage.after`): a stage runs only after they succeeded, but their keys
 * stay out of its key. kdq uses them so that an imported teacher's checks stop a bad run before the
 * baseline trains, while the baseline's key stays independent of the teacher.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildTaskPlan } from '../../src/executor/task-plan.ts';
import { Cache } from '../../src/pipeline/cache.ts';
import { formatGraph } from '../../src/pipeline/format.ts';
import { buildGraph, subgraphFor, topologicalOrder, type Stage } from '../../src/pipeline/graph.ts';
import { PipelineError } from '../../src/pipeline/pipeline-error.ts';
import { runGraph } from '../../src/pipeline/run.ts';
import { experiment } from './fixtures/experiment.ts';
import { toyDefs } from './fixtures/toy-defs.ts';

const env = { backend: 'cpu', tfjs: '4.22.0' };
let root: string;
let cache: Cache;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'kdq-after-'));
  cache = new Cache(join(root, 'cache'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/** data, a check of the data, and a baseline planned before the check but ordered after it. */
function stages(checkConfig: unknown = { file: 'a' }): Stage[] {
  return [
    { id: 'data', kind: 'data', config: {}, inputs: {}, deps: [] },
    { id: 'baseline', kind: 'baseline', config: { epochs: 1 }, inputs: { data: 'data' }, deps: ['data'], after: ['check'] },
    { id: 'check', kind: 'teacher', config: checkConfig, inputs: { data: 'data' }, deps: ['data'] },
  ];
}

describe('order-only prerequisites (after)', () => {
  it('run first even when planned later, and stay out of the key', async () => {
    const graph = buildGraph(stages());
    expect(topologicalOrder(graph)).toEqual(['data', 'check', 'baseline']);
    const calls: string[] = [];
    const first = await runGraph(graph, toyDefs({ calls }), { cache, env, scratchDir: join(root, 's') });
    expect(calls).toEqual(['data', 'check', 'baseline']);
    const baseline = first.stages.find((s) => s.id === 'baseline')!;
    expect(Object.keys(baseline.details)).not.toContain('dep:check');
    // Another check (a different teacher) reruns the check, never the baseline.
    const again: string[] = [];
    const second = await runGraph(buildGraph(stages({ file: 'b' })), toyDefs({ calls: again }), { cache, env, scratchDir: join(root, 's') });
    expect(again).toEqual(['check']);
    expect(second.stages.find((s) => s.id === 'baseline')!.key).toBe(baseline.key);
  });

  it('a failing prerequisite skips the stage: nothing of it runs or is cached', async () => {
    const calls: string[] = [];
    const err = await runGraph(buildGraph(stages()), toyDefs({ calls, failing: new Set(['check']) }), { cache, env, scratchDir: join(root, 's') }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PipelineError);
    const pe = err as PipelineError;
    expect(calls).toEqual(['data', 'check']);
    const baseline = pe.result.stages.find((s) => s.id === 'baseline')!;
    expect(baseline.status).toBe('skipped');
    expect(baseline.reason).toBe('dependency check failed');
    expect(await cache.get(baseline.key)).toBeNull();
    expect(pe.message).toMatch(/skipped because of it: baseline/);
  });

  it('are checked when the graph is built, kept by subgraphs, shown by kdq graph and waited for by executors', async () => {
    const [data, baseline, check] = stages();
    expect(() => buildGraph([data!, { ...baseline!, after: ['nothing'] }, check!])).toThrow(/depends on "nothing", which is not in the graph/);
    expect(() => buildGraph([data!, check!, { ...baseline!, after: ['data'] }])).toThrow(/lists "data" both in deps and in after/);
    const graph = buildGraph(stages());
    expect(Object.keys(subgraphFor(graph, ['baseline']).stages).sort()).toEqual(['baseline', 'check', 'data']);
    expect(formatGraph(graph)).toMatch(/baseline\s+<- data \(after check\)/);
    expect(formatGraph(graph, { dot: true })).toContain('"check" -> "baseline" [style=dashed];');
    const dry = await runGraph(graph, toyDefs(), { cache, env, dryRun: true });
    const plan = buildTaskPlan([{ experiment: experiment(), baseDir: root, graph, dryRun: dry }], () => true, 'cpu');
    const key = (id: string) => dry.stages.find((s) => s.id === id)!.key;
    expect(plan.tasks[key('baseline')]!.deps.sort()).toEqual([key('check'), key('data')].sort());
  });
});
