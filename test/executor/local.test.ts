/**
 * `--jobs 2` on a two-point sweep of the micro experiment: stages run in two worker processes,
 * the teacher the points share is trained once, and the walk afterwards finds everything cached.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli.ts';
import { Cache } from '../../src/pipeline/cache.ts';
import type { RunResult } from '../../src/pipeline/run.ts';
import type { SweepSummary } from '../../src/sweep/summary.ts';
import { sink } from '../capture.ts';

const MICRO = new URL('./micro.yaml', import.meta.url).pathname;
let runsDir: string;

async function kdq(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out = sink();
  const err = sink();
  const code = await main(args, { stdout: out.stream, stderr: err.stream });
  return { code, out: out.text(), err: err.text() };
}

beforeAll(async () => {
  runsDir = await mkdtemp(join(tmpdir(), 'kdq-jobs-'));
});
afterAll(async () => {
  await rm(runsDir, { recursive: true, force: true });
});

describe('kdq run --jobs 2 (sweep of two temperatures)', () => {
  it('computes the stages in two worker processes, the shared teacher once, and writes the summary', { timeout: 600_000 }, async () => {
    const r = await kdq(['run', MICRO, '--sweep', 'distillation.temperature=2,8', '--jobs', '2', '--runs-dir', runsDir]);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toContain('local executor: 15 stage(s) to compute in 2 worker process(es)');
    expect(r.err.match(/^teacher@s1: ran in .* on local worker \d/gm)).toHaveLength(1);
    const workers = new Set([...r.err.matchAll(/ on (local worker \d) \(pid \d+\)/g)].map((m) => m[1]));
    expect(workers).toEqual(new Set(['local worker 1', 'local worker 2']));
    // A worker's training progress reaches the submitter: a line per epoch, named by its stage.
    expect(r.err).toMatch(/^teacher@s1 epoch 1\/\d+: loss \d+\.\d+ acc .* samples\/s/m);
    expect(r.err).toMatch(/^student@s1 epoch 1\/\d+: loss /m);
    // Told to exit, the workers end by themselves, not 5 s later by SIGTERM.
    expect(r.err).not.toContain('did not exit');

    const cache = new Cache(join(runsDir, '.cache'));
    const kinds = (await cache.list()).map((e) => (e.meta as { kind: string }).kind);
    expect(kinds.filter((k) => k === 'teacher')).toHaveLength(1);
    expect(kinds.filter((k) => k === 'student')).toHaveLength(2);

    // Each point's stages.json credits the stages the workers computed for it; the shared teacher
    // ran once, for the first point, and the second found it cached.
    const ran: Record<string, string[]> = {};
    for (const point of ['p1', 'p2']) {
      const stages = JSON.parse(await readFile(join(runsDir, `executor-micro-${point}`, 'latest', 'stages.json'), 'utf8')) as RunResult;
      ran[point] = stages.stages.filter((s) => s.status === 'ran').map((s) => s.id);
      for (const s of stages.stages) if (s.status === 'ran' && s.id !== 'report') expect(s.reason).toMatch(/^computed for this run by local worker \d/);
    }
    expect(ran.p1).toEqual(expect.arrayContaining(['data', 'teacher@s1', 'soft-labels@s1', 'student@s1', 'report']));
    expect(ran.p2).not.toContain('teacher@s1');
    expect(ran.p2).toEqual(expect.arrayContaining(['student@s1', 'export:student_int8@s1', 'report']));
    const [sweepId] = await readdir(join(runsDir, 'executor-micro', 'sweeps'));
    const summary = JSON.parse(await readFile(join(runsDir, 'executor-micro', 'sweeps', sweepId!, 'summary.json'), 'utf8')) as SweepSummary;
    expect(summary.keys).toEqual(['distillation.temperature']);
    expect(summary.rows.map((row) => row.params['distillation.temperature']).sort()).toEqual([2, 8]);
    expect(summary.rows.filter((row) => row.best)).toHaveLength(1);
    expect(summary.rows[0]!.best).toBe(true);
    const rank = summary.rank;
    expect(summary.rows[0]!.metrics[rank]).toBeGreaterThanOrEqual(summary.rows[1]!.metrics[rank]!);
    expect(r.out).toContain(`sweep summary: ${join(runsDir, 'executor-micro', 'sweeps', sweepId!)}/summary.md (summary.html:`);
    expect(await readdir(join(runsDir, 'executor-micro', 'sweeps', sweepId!))).toEqual(expect.arrayContaining(['summary.md', 'summary.json', 'summary.html']));
  });

  it('a second sweep run finds every stage cached and starts no worker', { timeout: 300_000 }, async () => {
    const r = await kdq(['run', MICRO, '--sweep', 'distillation.temperature=2,8', '--jobs', '2', '--runs-dir', runsDir]);
    expect(r.code, r.err).toBe(0);
    expect(r.err).not.toContain('local executor');
    const ran = [...r.err.matchAll(/^(\S+): ran in /gm)].map((m) => m[1]);
    expect(ran).toEqual(['report', 'report']);
  });

  it.each([
    [['--jobs', '0'], "--jobs expects a whole number from 1 to 64, got '0'"],
    [['--jobs', '100000'], "--jobs expects a whole number from 1 to 64, got '100000'"],
    [['--jobs', '99999999999999999999'], "--jobs expects a whole number from 1 to 64, got '99999999999999999999'"],
    [['--jobs', '2', '--force'], '--force and --force-stage run in this process only'],
    [['--executor', 'bullmq'], '--executor bullmq needs --redis redis://HOST:PORT'],
    [['--redis', 'redis://127.0.0.1:6379'], '--redis is for --executor bullmq'],
    [['--executor', 'bullmq', '--redis', 'http://x:1'], "--redis 'http://x:1' must start with redis://"],
  ])('rejects %j with a usage error', async (extra, message) => {
    const r = await kdq(['run', MICRO, '--runs-dir', runsDir, ...extra]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(message);
  });
});
