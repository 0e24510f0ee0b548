/**
 * Training throughput (samples/s) of the notebook's teacher and student with a custom training step
 * (`optimizer.minimize` on softmax cross-entropy over logits, as kdq's trainer does), on
 * MNIST-shaped random data kept on the backend.
 */
import * as tf from '@tensorflow/tfjs';
import { fastAdam } from '../src/backend/index.ts';
import { createRng } from '../src/util/random.ts';

export type BenchModel = 'teacher' | 'student';

/** `adam` is tf.train.adam; `fast-adam` is kdq's fastAdam (one kernel per variable on wasm). */
export type BenchOptimizer = 'adam' | 'fast-adam';

/** conv(filters 3x3 relu) > maxpool 2 > flatten > dense(hidden relu) > dense 10 logits. */
export function buildBenchModel(kind: BenchModel, seed = 1): tf.LayersModel {
  const [filters, hidden] = kind === 'teacher' ? [32, 128] : [16, 64];
  const init = (s: number) => tf.initializers.glorotUniform({ seed: seed * 10 + s });
  return tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [28, 28, 1], filters, kernelSize: 3, activation: 'relu', kernelInitializer: init(1) }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
      tf.layers.dense({ units: hidden, activation: 'relu', kernelInitializer: init(2) }),
      tf.layers.dense({ units: 10, kernelInitializer: init(3) }),
    ],
  });
}

export interface ThroughputResult {
  model: BenchModel;
  batchSize: number;
  optimizer: BenchOptimizer;
  /** samples/s of each timed run, wall clock. */
  runs: number[];
  median: number;
  /**
   * samples per second of this process' own CPU time (user + system) of each run: on a machine
   * shared with other jobs this stays meaningful when the wall-clock rate does not.
   */
  cpuRuns: number[];
  cpuMedian: number;
}

function median(xs: number[]): number {
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
  const model = buildBenchModel(kind);
  const optimizerName = opts.optimizer ?? 'fast-adam';
  const optimizer = optimizerName === 'adam' ? tf.train.adam(1e-3) : fastAdam(1e-3);
  const batches = 16;
  const { xs, ys } = benchData(batches * batchSize);
  const step = (i: number): void => {
    const b = i % batches;
    tf.tidy(() => {
      const xb = xs.slice([b * batchSize, 0, 0, 0], [batchSize, 28, 28, 1]);
      const yb = ys.slice([b * batchSize, 0], [batchSize, 10]);
      const loss = optimizer.minimize(() => tf.losses.softmaxCrossEntropy(yb, model.apply(xb, { training: true }) as tf.Tensor) as tf.Scalar, true);
      loss?.dataSync();
    });
  };
  for (let i = 0; i < warmup; i++) step(i);
  const rates: number[] = [];
  const cpuRates: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    for (let i = 0; i < stepsPerRun; i++) step(i);
    const secs = (performance.now() - t0) / 1000;
    const c1 = process.cpuUsage(c0);
    rates.push((stepsPerRun * batchSize) / secs);
    cpuRates.push((stepsPerRun * batchSize) / ((c1.user + c1.system) / 1e6));
  }
  xs.dispose();
  ys.dispose();
  model.dispose();
  optimizer.dispose();
  return {
    model: kind,
    batchSize,
    optimizer: optimizerName,
    runs: rates.map((x) => Math.round(x)), median: Math.round(median(rates)),
    cpuRuns: cpuRates.map((x) => Math.round(x)),
    cpuMedian: Math.round(median(cpuRates)),
  };
}
