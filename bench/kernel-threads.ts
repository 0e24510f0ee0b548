/**
 * `npm run bench -- --kernel-ab [--shapes NAME,...] [--batch N,...]`: each suite network trained on
 * one kernel thread and on two in the same process, in alternating rounds of 20 steps (8 rounds
 * each), so both counts see the same host state; the statistic is the median step of each count
 * over all its rounds, and the ratio is one thread's median over two threads'. The two counts train
 * the same model to the same bits, so the rounds continue one training run. Prints and appends to
 * bench/results/kernel-threads.json with the load and the memory-stall probe before and after.
 */
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend } from '../src/backend/index.ts';
import { closeIntraOp, setKernelThreads } from '../src/backend/intra-op/index.ts';
import { appendHistory } from './history.ts';
import { gitCommit, memoryStallProbe } from './run-bench.ts';
import { prepareShape } from './shape-throughput.ts';
import { selectShapes } from './shapes.ts';
import { median } from './train-throughput.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS = path.join(ROOT, 'bench', 'results', 'kernel-threads.json');
const ROUNDS = 8;
const STEPS = 20;
const WARMUP = 5;

export interface KernelThreadsResult {
  shape: string;
  batchSize: number;
  oneThreadMs: number;
  twoThreadsMs: number;
  speedup: number;
  samplesPerSecond: { one: number; two: number };
}

export async function benchKernelThreads(argv: string[]): Promise<number> {
  let shapes: string[] | undefined;
  let batches = [32, 64];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--shapes') shapes = (argv[++i] ?? '').split(',').filter(Boolean);
    else if (argv[i] === '--batch') batches = (argv[++i] ?? '').split(',').map(Number);
    else throw new Error(`unknown option '${argv[i]}'; use --shapes NAME,... and --batch N,...`);
  }
  const load0 = os.loadavg();
  const stall0 = memoryStallProbe();
  const backend = await initBackend();
  process.stderr.write(
    `kdq bench: kernels on 1 and 2 threads, alternating, ${backend.name} backend, load ${load0[0]!.toFixed(2)}, memory-stall ratio ${stall0.ratio}\n`,
  );
  const results: KernelThreadsResult[] = [];
  for (const shape of selectShapes(shapes)) {
    for (const batchSize of batches) {
      const { step, dispose } = await prepareShape(shape, batchSize);
      const times: Record<1 | 2, number[]> = { 1: [], 2: [] };
      let k = 0;
      try {
        for (let i = 0; i < WARMUP; i++) step(k++);
        for (let round = 0; round < ROUNDS; round++) {
          for (const threads of [1, 2] as const) {
            setKernelThreads(threads);
            for (let i = 0; i < STEPS; i++) {
              const t0 = performance.now();
              step(k++);
              times[threads].push(performance.now() - t0);
            }
          }
        }
      } finally {
        setKernelThreads(1);
        dispose();
      }
      const one = median(times[1]);
      const two = median(times[2]);
      const r: KernelThreadsResult = {
        shape: shape.name,
        batchSize,
        oneThreadMs: Math.round(one * 1000) / 1000,
        twoThreadsMs: Math.round(two * 1000) / 1000,
        speedup: Math.round((one / two) * 100) / 100,
        samplesPerSecond: { one: Math.round((batchSize * 1000) / one), two: Math.round((batchSize * 1000) / two) },
      };
      process.stderr.write(
        `  ${r.shape.padEnd(8)} batch ${String(batchSize).padEnd(3)} median step ${r.oneThreadMs} ms on 1 thread, ${r.twoThreadsMs} ms on 2: ` +
          `${r.speedup}x (${r.samplesPerSecond.one.toLocaleString('en-US')} -> ${r.samplesPerSecond.two.toLocaleString('en-US')} samples/s)\n`,
      );
      results.push(r);
    }
  }
  await closeIntraOp();
  const after = { loadavg: os.loadavg()[0], memoryStall: memoryStallProbe() };
  process.stderr.write(`after: ${JSON.stringify(after)}\n`);
  appendHistory(RESULTS, 'Kernels on 1 and 2 threads in alternating rounds of one process; see bench/kernel-threads.ts', {
    date: new Date().toISOString(),
    commit: gitCommit(),
    backend,
    cpus: os.cpus().length,
    loadavg: [...load0, ...os.loadavg()],
    memoryStall: stall0,
    after,
    rounds: ROUNDS,
    steps: STEPS,
    results,
  });
  process.stderr.write(`appended to ${path.relative(ROOT, RESULTS)}\n`);
  return 0;
}
