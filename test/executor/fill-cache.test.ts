/** How many worker processes a run uses, and how a walk after them credits what they computed. */
import { describe, expect, it } from 'vitest';
import { MAX_AUTO_JOBS, resolveJobs, usesExecutor } from '../../src/executor/fill-cache.ts';
import { creditExecutor } from '../../src/run-experiment.ts';
import type { RunResult } from '../../src/pipeline/results.ts';
import type { TaskOutcome } from '../../src/executor/types.ts';

describe('resolveJobs', () => {
  it('auto is one worker per core, up to the cap, and none where only this process can run the stages', () => {
    expect(resolveJobs({ jobs: 'auto' }, 2)).toBe(2);
    expect(resolveJobs({ jobs: 'auto' }, 64)).toBe(MAX_AUTO_JOBS);
    expect(resolveJobs({ jobs: 'auto' }, 1)).toBe(1);
    expect(resolveJobs({ jobs: 'auto', force: true }, 2)).toBe(1);
    expect(resolveJobs({ jobs: 'auto', forceStages: ['teacher'] }, 2)).toBe(1);
    expect(resolveJobs({ jobs: 'auto', dryRun: true }, 2)).toBe(1);
    expect(usesExecutor({ jobs: 'auto', force: true })).toBe(false);
  });

  it('a number is taken as given, and the API default is this process alone', () => {
    expect(resolveJobs({ jobs: 3 }, 2)).toBe(3);
    expect(resolveJobs({}, 8)).toBe(1);
    expect(usesExecutor({})).toBe(false);
    expect(usesExecutor({ executor: 'bullmq' })).toBe(true);
  });
});

describe('creditExecutor', () => {
  const result = (ids: string[]): RunResult => ({
    ok: true,
    seconds: 1,
    stages: ids.map((id) => ({ id, kind: id, key: `k-${id}`, details: {}, status: 'cached' as const, seconds: 0.01, outDir: `/c/${id}`, reason: 'cache hit' })),
  });
  it('marks the stages a worker computed for this run as ran, once per key, with the worker and its time', () => {
    const computed = new Map<string, TaskOutcome>([
      ['k-teacher', { key: 'k-teacher', stageId: 'teacher', status: 'ran', seconds: 12.5, worker: 'local worker 1 (pid 7)' }],
      ['k-data', { key: 'k-data', stageId: 'data', status: 'cached', seconds: 0.1, worker: 'local worker 2 (pid 8)' }],
    ]);
    const first = creditExecutor(result(['data', 'teacher']), computed);
    expect(first.stages.map((s) => [s.id, s.status, s.seconds, s.reason])).toEqual([
      ['data', 'cached', 0.01, 'cache hit'],
      ['teacher', 'ran', 12.5, 'computed for this run by local worker 1 (pid 7)'],
    ]);
    // A second point of a sweep that uses the same teacher found it cached.
    expect(creditExecutor(result(['teacher']), computed).stages[0]!.status).toBe('cached');
  });
});
