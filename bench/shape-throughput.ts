/**
 * Training throughput of one network of the bench suite (bench/shapes.ts) at one batch size, in
 * this process: seeded random inputs kept on the backend, one optimizer step per batch with kdq's
 * optimizer (createOptimizer: Adam, one kernel per variable on wasm) and kdq's cross-entropy on
 * logits, exactly as the trainer's single-thread step does.
 */
import * as tf from '@tensorflow/tfjs';
import { crossEntropyFromLogits } from '../src/models/losses.ts';
import { createOptimizer } from '../src/train/optimizers.ts';
import { createRng } from '../src/util/random.ts';
import { installKernelProfiler, type KernelTime } from './kernel-profile.ts';
import type { BenchShape } from './shapes.ts';
import { median } from './train-throughput.ts';

export interface ShapeRunOptions {
  batchSize: number;
  /** Timed steps per run. */
  steps: number;
  runs: number;
  warmup: number;
  /** ...and warm-up steps for at least this long. */
  warmupSeconds?: number;
  /** Also time every kernel (slows the step a little: one wrapper call per kernel). */
  profile: boolean;
}

/** A kernel's time per training step. */
export interface KernelStepTime {
  kernel: string;
  callsPerStep: number;
  /** The kernel's time in its fastest step and in its median step (steps slowed by other work on the host move neither much). */
  minMs: number;
  medianMs: number;
  /** Share of the sum of every row's `medianMs`, in percent. */
  percent: number;
}

export interface ShapeResult {
  shape: string;
  batchSize: number;
  /** samples/s of each run, wall clock. */
  runs: number[];
  /** The median of `runs`. */
  median: number;
  /** samples/s at each run's median step (stalls that hit fewer than half the steps do not move it). */
  medianStepRuns: number[];
  /** The median of `medianStepRuns`: the suite's headline figure. */
  medianSteps: number;
  /** samples/s at the fastest step over all runs: what the code does on a quiet core. */
  bestStep: number;
  /** Milliseconds of the fastest step and of the step at the 10th percentile. */
  minStepMs: number;
  p10StepMs: number;
  /** Peak resident set of this process, MB (the caller runs each shape in a fresh process). */
  peakRssMb: number;
  /** With `profile`: kernels by time per step, slowest first, plus `(outside kernels)`. */
  profile?: KernelStepTime[];
}

/** `samples` seeded random inputs of `shape` in [0, 1) and one-hot labels. */
function randomData(shape: BenchShape, samples: number): { xs: tf.Tensor; ys: tf.Tensor2D } {
  const rng = createRng(7);
  const [h, w, c] = shape.inputShape;
  const px = new Float32Array(samples * h * w * c);
  for (let i = 0; i < px.length; i++) px[i] = rng();
  const labels = new Int32Array(samples);
  for (let i = 0; i < samples; i++) labels[i] = Math.floor(rng() * shape.classes);
  const ys = tf.tidy(() => tf.oneHot(tf.tensor1d(labels, 'int32'), shape.classes).toFloat() as tf.Tensor2D);
  return { xs: tf.tensor4d(px, [samples, h, w, c]), ys };
}

/** A training step on batch `i` of the cycled data; returns nothing, waits for the loss. */
export type BenchStep = (i: number) => void;

/** The model, data and step function of `shape` at `batchSize`; `dispose` frees them. */
export async function prepareShape(shape: BenchShape, batchSize: number, seed = 1): Promise<{ step: BenchStep; model: tf.LayersModel; dispose(): void }> {
  const model = await shape.build(seed);
  const optimizer = createOptimizer({ optimizer: 'adam', learningRate: 1e-3, momentum: 0 });
  const varList = model.trainableWeights.map((v) => v.read() as tf.Variable);
  const batches = 8;
  const { xs, ys } = randomData(shape, batches * batchSize);
  const [h, w, c] = shape.inputShape;
  const step: BenchStep = (i) => {
    const b = i % batches;
    tf.tidy(() => {
      const xb = xs.slice([b * batchSize, 0, 0, 0], [batchSize, h, w, c]);
      const yb = ys.slice([b * batchSize, 0], [batchSize, shape.classes]) as tf.Tensor2D;
      const loss = optimizer.minimize(() => crossEntropyFromLogits(yb, model.apply(xb, { training: true }) as tf.Tensor2D), true, varList);
      loss?.dataSync();
    });
  };
  return {
    step,
    model,
    dispose: () => {
      tf.dispose([xs, ys]);
      model.dispose();
      optimizer.dispose();
    },
  };
}

/** A network ready to time, one run at a time (the suite interleaves runs with PyTorch's). */
export interface ShapeSession {
  /** One timed run of `steps` steps; returns its samples/s at the median step. */
  run(): number;
  /** The figures over every run so far; frees the model. */
  finish(): ShapeResult;
}

/** Builds `shape` at one batch size in this process and runs the warm-up steps. */
export async function openShape(shape: BenchShape, o: ShapeRunOptions): Promise<ShapeSession> {
  const { step, dispose } = await prepareShape(shape, o.batchSize);
  const warm = performance.now() + 1000 * (o.warmupSeconds ?? 0);
  for (let i = 0; i < o.warmup || performance.now() < warm; i++) step(i);
  const profiler = o.profile ? installKernelProfiler(tf.getBackend()) : undefined;
  if (profiler !== undefined) for (let i = 0; i < 2; i++) step(i);
  profiler?.reset();
  const rates: number[] = [];
  const medianStepRates: number[] = [];
  const stepsInOrder: number[] = [];
  return {
    run() {
      const times: number[] = [];
      const t0 = performance.now();
      for (let i = 0; i < o.steps; i++) {
        const s0 = performance.now();
        step(i);
        times.push(performance.now() - s0);
        profiler?.endStep();
      }
      rates.push((o.steps * o.batchSize * 1000) / (performance.now() - t0));
      medianStepRates.push((o.batchSize * 1000) / median(times));
      stepsInOrder.push(...times);
      return medianStepRates[medianStepRates.length - 1]!;
    },
    finish() {
      const table = profiler?.table();
      profiler?.uninstall();
      dispose();
      const all = [...stepsInOrder].sort((a, b) => a - b);
      const round = (x: number, d = 0) => Math.round(x * 10 ** d) / 10 ** d;
      return {
        shape: shape.name,
        batchSize: o.batchSize,
        runs: rates.map((x) => round(x)),
        median: round(median(rates)),
        medianStepRuns: medianStepRates.map((x) => round(x)),
        medianSteps: round(median(medianStepRates)),
        bestStep: round((o.batchSize * 1000) / all[0]!),
        minStepMs: round(all[0]!, 3),
        p10StepMs: round(all[Math.floor(all.length * 0.1)]!, 3),
        peakRssMb: round(process.resourceUsage().maxRSS / 1024),
        ...(table !== undefined ? { profile: stepProfile(table, stepsInOrder) } : {}),
      };
    },
  };
}

/** Measures `shape` at one batch size in this process: `runs` runs in a row. */
export async function measureShape(shape: BenchShape, o: ShapeRunOptions): Promise<ShapeResult> {
  const session = await openShape(shape, o);
  for (let r = 0; r < o.runs; r++) session.run();
  return session.finish();
}

/**
 * The profile per step, with the time outside any kernel (tape, JavaScript, allocation) as one
 * row: each step's wall time minus its kernels' time.
 */
function stepProfile(table: KernelTime[], stepMs: number[]): KernelStepTime[] {
  const n = stepMs.length;
  const outside = stepMs.map((ms, i) => Math.max(0, ms - table.reduce((a, t) => a + (t.perStep[i] ?? 0), 0)));
  const rows = [
    ...table.map((t) => ({ kernel: t.kernel, calls: t.calls / n, perStep: t.perStep })),
    { kernel: '(outside kernels)', calls: 0, perStep: outside },
  ];
  const r3 = (x: number) => Math.round(x * 1000) / 1000;
  const stats = rows.map((r) => ({ kernel: r.kernel, callsPerStep: r3(r.calls), minMs: Math.min(...r.perStep), medianMs: median(r.perStep) }));
  const total = stats.reduce((a, r) => a + r.medianMs, 0);
  return stats
    .sort((a, b) => b.medianMs - a.medianMs)
    .map((r) => ({ ...r, minMs: r3(r.minMs), medianMs: r3(r.medianMs), percent: Math.round((1000 * r.medianMs) / total) / 10 }));
}
