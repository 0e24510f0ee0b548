/**
 * `npm run bench -- --threads`: the kd-mnist teacher trained by kdq's own trainer (trainModel) on
 * one thread and on two (`training.threads`), at batch 32 and 64, runs alternating so both see the
 * same machine. Each run is one epoch over 6,400 seeded random MNIST-shaped images; the statistic
 * is the median step time of the run (this host stalls whole steps for 0.3-1 s at random, which
 * the median ignores and a wall-clock mean does not), and the ratio is one thread's median over
 * two threads'. Appended to bench/results/threads.json.
 */
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend } from '../src/backend/index.ts';
import { buildModel } from '../src/models/build.ts';
import { trainModel } from '../src/train/train.ts';
import { createRng } from '../src/util/random.ts';
import { appendHistory } from './history.ts';
import { benchModelConfig, median } from './train-throughput.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS = path.join(ROOT, 'bench', 'results', 'threads.json');
const SAMPLES = 6400;
const RUNS = 3;

export async function benchThreads(): Promise<number> {
  const load0 = os.loadavg();
  const backend = await initBackend();
  const teacher = await benchModelConfig('teacher');
  const rng = createRng(11);
  const images = new Float32Array(SAMPLES * 784).map(() => rng());
  const labels = new Int32Array(SAMPLES).map(() => Math.floor(rng() * 10));
  const stepMs = async (batchSize: number, threads: number): Promise<number> => {
    const model = buildModel(teacher.layers, [28, 28, 1], 1, { role: 'teacher' });
    const times: number[] = [];
    let last = 0;
    try {
      await trainModel({
        model,
        examples: images,
        labels,
        inputShape: [28, 28, 1],
        numClasses: 10,
        config: { ...teacher.training, epochs: 1, batchSize, threads },
        seed: 1,
        stage: 'teacher',
        spec: { layers: teacher.layers, seed: 1, role: 'teacher' },
        onBatch: (b) => {
          times.push((b.seconds - last) * 1000);
          last = b.seconds;
        },
      });
    } finally {
      model.dispose();
    }
    return median(times.slice(1));
  };
  process.stderr.write(`kdq bench: teacher on 1 and 2 threads, ${backend.name} backend, load ${load0[0]!.toFixed(2)}\n`);
  const results: Record<
    string,
    { batchSize: number; oneThreadMs: number[]; twoThreadsMs: number[]; speedup: number; samplesPerSecond: { one: number; two: number } }
  > = {};
  for (const batchSize of [32, 64]) {
    const one: number[] = [];
    const two: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      one.push(Number((await stepMs(batchSize, 1)).toFixed(2)));
      two.push(Number((await stepMs(batchSize, 2)).toFixed(2)));
    }
    const m1 = median(one);
    const m2 = median(two);
    results[`batch${batchSize}`] = {
      batchSize,
      oneThreadMs: one,
      twoThreadsMs: two,
      speedup: Number((m1 / m2).toFixed(3)),
      samplesPerSecond: { one: Math.round((batchSize * 1000) / m1), two: Math.round((batchSize * 1000) / m2) },
    };
    process.stderr.write(
      `  batch ${batchSize}: median step ${m1} ms on 1 thread (runs ${one.join(', ')}), ${m2} ms on 2 (runs ${two.join(', ')}): ${(m1 / m2).toFixed(2)}x\n`,
    );
  }
  appendHistory(RESULTS, 'kd-mnist teacher, median step time of kdq trainModel on 1 vs 2 threads (training.threads); see bench/threads.ts', {
    date: new Date().toISOString(),
    backend: backend.name,
    tfjs: backend.tfjs,
    cpus: os.cpus().length,
    loadavgBefore: load0.map((x) => Number(x.toFixed(2))),
    loadavgAfter: os.loadavg().map((x) => Number(x.toFixed(2))),
    samplesPerRun: SAMPLES,
    results,
  });
  process.stderr.write(`appended to ${path.relative(ROOT, RESULTS)}\n`);
  return 0;
}
