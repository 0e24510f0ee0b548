/**
 * The suite's paired protocol (bench/suite.ts runPaired): kdq's shape worker and the PyTorch
 * peers each in a process of their own, one run of each per round. The peer here is a stand-in
 * that speaks torch_peer.py's protocol (CI has no PyTorch); kdq's worker is the real one.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { selectShapes } from '../../bench/shapes.ts';
import { runPaired } from '../../bench/suite.ts';
import { initBackend } from '../../src/backend/index.ts';

const FAKE_PEER = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'bench', 'fake-peer.mjs');

beforeAll(async () => {
  await initBackend('wasm');
});

afterEach(() => {
  delete process.env.KDQ_BENCH_PYTHON;
  delete process.env.FAKE_PEER_PARAMETERS;
});

describe('kdq against PyTorch, run by run', () => {
  it("pairs each of kdq's runs with the peers' runs of the same round", async () => {
    const model = await selectShapes(['mlp'])[0]!.build(1);
    process.env.FAKE_PEER_PARAMETERS = String(model.countParams());
    model.dispose();
    process.env.KDQ_BENCH_PYTHON = FAKE_PEER;
    const o = { batches: [8], steps: 3, runs: 4, warmup: 1, warmupSeconds: 0, profile: false, peer: true, kernelThreads: [1], note: '' };
    const r = await runPaired('mlp', 8, 1, o);
    expect(r.shape).toBe('mlp');
    expect(r.medianStepRuns).toHaveLength(4);
    expect(r.peer!.map((p) => p.threads)).toEqual([1, 2]);
    expect(r.peer![0]!.medianStepRuns).toEqual([1000, 1100, 1200, 1300]);
    // round i: kdq's run i over the faster peer's run i (the one-thread stand-in's 1000 + 100 i)
    // (the worker answers each run's rate to 0.1 samples/s, its result rounds them to whole ones)
    const expected = r.medianStepRuns.map((k, i) => k / (1000 + 100 * i));
    expect(r.paired!.rounds).toHaveLength(4);
    r.paired!.rounds.forEach((x, i) => expect(x).toBeCloseTo(expected[i]!, 1));
    const sorted = [...r.paired!.rounds].sort((a, b) => a - b);
    expect(r.paired!.median).toBeCloseTo((sorted[1]! + sorted[2]!) / 2, 1);
  }, 60_000);

  it('stops every process and says which one failed when a peer cannot start', async () => {
    process.env.KDQ_BENCH_PYTHON = '/nonexistent/python3';
    const o = { batches: [8], steps: 2, runs: 3, warmup: 0, warmupSeconds: 0, profile: false, peer: true, kernelThreads: [1], note: '' };
    await expect(runPaired('mlp', 8, 1, o)).rejects.toThrow(/the PyTorch peer \(1 thread\) could not start: spawn \/nonexistent\/python3 ENOENT/);
  }, 60_000);

  it('refuses a peer that built another network', async () => {
    process.env.FAKE_PEER_PARAMETERS = '12';
    process.env.KDQ_BENCH_PYTHON = FAKE_PEER;
    const o = { batches: [8], steps: 2, runs: 3, warmup: 0, warmupSeconds: 0, profile: false, peer: true, kernelThreads: [1], note: '' };
    await expect(runPaired('mlp', 8, 1, o)).rejects.toThrow(/built mlp with 12 parameters, kdq with 235146: not the same network/);
  }, 60_000);
});
