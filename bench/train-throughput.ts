/**
 * Training throughput (samples/s) of the notebook's teacher and student, built from
 * experiments/kd-mnist.yaml by kdq's own model builder and trained one batch at a time with the
 * trainer's optimizer and loss, on MNIST-shaped random data kept on the backend.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { loadExperiment } from '../src/config/load.ts';
import type { ModelConfig } from '../src/config/types.ts';
import { buildModel } from '../src/models/build.ts';
import { crossEntropyFromLogits } from '../src/models/losses.ts';
import { createOptimizer } from '../src/train/optimizers.ts';
import { createRng } from '../src/util/random.ts';

export type BenchModel = 'teacher' | 'student';

/** `adam` is tf.train.adam; `fast-adam` is what kdq's trainer uses (createOptimizer). */
export type BenchOptimizer = 'adam' | 'fast-adam';

const EXPERIMENT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'experiments', 'kd-mnist.yaml');

/** The teacher or student of kd-mnist.yaml, as kdq builds it. */
export async function benchModelConfig(kind: BenchModel): Promise<ModelConfig> {
  const { experiment } = await loadExperiment(EXPERIMENT);
  const model = experiment[kind];
  if (!('layers' in model)) throw new Error(`${EXPERIMENT}: the ${kind} is imported, not built from layers`);
  return model;
}

export interface ThroughputResult {
  model: BenchModel;
  batchSize: number;
  optimizer: BenchOptimizer;
  /** samples/s of each timed run, wall clock. */
  runs: number[];
  median: number;
  /**
   * samples per second of this process' own CPU time (user + system) of each run: meaningful on a
   * machine shared with other jobs. Not on this sandbox's VM: its stalls are charged to the
   * process as CPU time (a 700 ms step used 700 ms of "CPU"), so there it tracks the wall clock.
   */
  cpuRuns: number[];
  cpuMedian: number;
  /**
   * samples/s of the step at the 10th percentile of step times over all runs: what the code does
   * when the machine is not throttling it (this host's speed varies up to 8x within a minute).
   */
  fastSteps: number;
  /** samples/s at each run's median step: immune to stalls that hit fewer than half the steps. */
  medianStepRuns: number[];
  /** The median of `medianStepRuns`. */
  medianSteps: number;
}

/** The median of `xs` (the mean of the middle two for an even count). */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Seeded MNIST-shaped data: pixels in [0, 1), one-hot labels. */
export function benchData(samples: number, seed = 7): { xs: tf.Tensor4D; ys: tf.Tensor2D } {
  const rng = createRng(seed);
  const px = new Float32Array(samples * 784);
  for (let i = 0; i < px.length; i++) px[i] = rng();
  const labels = new Int32Array(samples);
  for (let i = 0; i < samples; i++) labels[i] = Math.floor(rng() * 10);
  const ys = tf.tidy(() => tf.oneHot(tf.tensor1d(labels, 'int32'), 10).toFloat() as tf.Tensor2D);
  return { xs: tf.tensor4d(px, [samples, 28, 28, 1]), ys };
}

/** Measures `runs` timed passes of `stepsPerRun` batches each, after `warmup` untimed steps. */
export async function measureThroughput(
  kind: BenchModel,
  opts: { batchSize?: number; stepsPerRun?: number; runs?: number; warmup?: number; optimizer?: BenchOptimizer } = {},
): Promise<ThroughputResult> {
  const batchSize = opts.batchSize ?? 32;
  const stepsPerRun = opts.stepsPerRun ?? 60;
  const runs = opts.runs ?? 3;
  const warmup = opts.warmup ?? 5;
  const config = await benchModelConfig(kind);
  const model = buildModel(config.layers, [28, 28, 1], 1, { role: kind });
  const optimizerName = opts.optimizer ?? 'fast-adam';
  const optimizer = optimizerName === 'adam' ? tf.train.adam(1e-3, 0.9, 0.999, 1e-7) : createOptimizer({ ...config.training, learningRate: 1e-3 });
  const varList = model.trainableWeights.map((v) => v.read() as tf.Variable);
  const batches = 16;
  const { xs, ys } = benchData(batches * batchSize);
  const step = (i: number): void => {
    const b = i % batches;
    tf.tidy(() => {
      const xb = xs.slice([b * batchSize, 0, 0, 0], [batchSize, 28, 28, 1]);
      const yb = ys.slice([b * batchSize, 0], [batchSize, 10]) as tf.Tensor2D;
      const loss = optimizer.minimize(() => crossEntropyFromLogits(yb, model.apply(xb, { training: true }) as tf.Tensor2D), true, varList);
      loss?.dataSync();
    });
  };
  for (let i = 0; i < warmup; i++) step(i);
  const rates: number[] = [];
  const cpuRates: number[] = [];
  const stepMs: number[] = [];
  const medianStepRates: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const runSteps: number[] = [];
    for (let i = 0; i < stepsPerRun; i++) {
      const s0 = performance.now();
      step(i);
      runSteps.push(performance.now() - s0);
    }
    stepMs.push(...runSteps);
    medianStepRates.push((batchSize * 1000) / median(runSteps));
    const secs = (performance.now() - t0) / 1000;
    const c1 = process.cpuUsage(c0);
    rates.push((stepsPerRun * batchSize) / secs);
    cpuRates.push((stepsPerRun * batchSize) / ((c1.user + c1.system) / 1e6));
  }
  xs.dispose();
  ys.dispose();
  model.dispose();
  optimizer.dispose();
  stepMs.sort((a, b) => a - b);
  return {
    model: kind,
    batchSize,
    optimizer: optimizerName,
    runs: rates.map((x) => Math.round(x)),
    median: Math.round(median(rates)),
    cpuRuns: cpuRates.map((x) => Math.round(x)),
    cpuMedian: Math.round(median(cpuRates)),
    fastSteps: Math.round((batchSize * 1000) / stepMs[Math.floor(stepMs.length * 0.1)]),
    medianStepRuns: medianStepRates.map((x) => Math.round(x)),
    medianSteps: Math.round(median(medianStepRates)),
  };
}
