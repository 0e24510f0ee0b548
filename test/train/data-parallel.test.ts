import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.ts';
import type { LayerSpec, TrainingConfig } from '../../src/config/types.ts';
import { KdqError } from '../../src/errors.ts';
import { buildModel } from '../../src/models/build.ts';
import { saveWeights } from '../../src/models/weights.ts';
import { epochOrder } from '../../src/train/batches.ts';
import { prepareShard, shardBounds, shardGradients } from '../../src/train/shard.ts';
import { trainModel, type TrainArgs } from '../../src/train/train.ts';
import { mnistSubset } from './mnist-subset.ts';
import { rejection, trainingConfig } from './fixtures.ts';

beforeAll(async () => {
  await initBackend('wasm');
});

const SHAPE: [number, number, number] = [28, 28, 1];
const withDropout: LayerSpec[] = [
  { type: 'conv2d', filters: 4, kernelSize: 3, strides: 2, padding: 'valid', activation: 'relu', useBias: true },
  { type: 'dropout', rate: 0.25 },
  { type: 'flatten' },
  { type: 'dense', units: 10, activation: 'linear', useBias: true },
];
const plain: LayerSpec[] = [
  { type: 'conv2d', filters: 4, kernelSize: 3, strides: 2, padding: 'valid', activation: 'relu', useBias: true },
  { type: 'flatten' },
  { type: 'dense', units: 16, activation: 'relu', useBias: true },
  { type: 'dense', units: 10, activation: 'linear', useBias: true },
];
const cfg = trainingConfig;
const data = mnistSubset(200);

async function train(layers: LayerSpec[], seed: number, over: Partial<TrainingConfig>, args: Partial<TrainArgs> = {}) {
  const model = buildModel(layers, SHAPE, seed, { role: 'student' });
  try {
    const history = await trainModel({
      model,
      ...data,
      inputShape: SHAPE,
      numClasses: 10,
      config: cfg(over),
      seed,
      stage: 'student',
      spec: { layers, seed, role: 'student' },
      ...args,
    });
    return { history, weights: Buffer.from(saveWeights(model).data), floats: new Float32Array(saveWeights(model).data.slice().buffer) };
  } finally {
    model.dispose();
  }
}

describe('shardBounds', () => {
  it('cuts every batch into disjoint, covering shards whose sizes differ by at most one', () => {
    for (const [from, to] of [
      [0, 32],
      [64, 96],
      [0, 1],
      [5, 8],
      [0, 33],
      [100, 107],
    ]) {
      for (const replicas of [1, 2, 3, 4, 8]) {
        const shards = Array.from({ length: replicas }, (_, r) => shardBounds(from, to, r, replicas));
        expect(shards[0][0]).toBe(from);
        expect(shards[replicas - 1][1]).toBe(to);
        for (let r = 1; r < replicas; r++) expect(shards[r][0]).toBe(shards[r - 1][1]);
        const sizes = shards.map(([a, b]) => b - a);
        expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
      }
    }
    // A batch of 1 on two threads: one shard is empty.
    expect([shardBounds(0, 1, 0, 2), shardBounds(0, 1, 1, 2)]).toEqual([
      [0, 0],
      [0, 1],
    ]);
  });
});

describe('shardGradients', () => {
  it('the shards of a batch sum to the whole batch gradient (relative error < 1e-5), loss sums and hits too', () => {
    const model = buildModel(plain, SHAPE, 4, { role: 'student' });
    const vars = model.trainableWeights.map((v) => v.read() as tf.Variable);
    const size = vars.reduce((a, v) => a + v.size, 0);
    const d = prepareShard({ examples: data.examples, labels: data.labels, inputShape: [...SHAPE], dtype: 'float32', preprocessing: null, numClasses: 10 });
    const order = epochOrder(200, 4, 0, true);
    const whole = new Float32Array(size);
    const one = shardGradients(model, vars, d, order, 40, 77, 0, 0, 1, whole);
    for (const replicas of [2, 3, 5]) {
      const sum = new Float64Array(size);
      let lossSum = 0;
      let hits = 0;
      for (let r = 0; r < replicas; r++) {
        const part = new Float32Array(size);
        const res = shardGradients(model, vars, d, order, 40, 77, 0, r, replicas, part);
        part.forEach((g, i) => (sum[i] += g));
        lossSum += res.lossSum;
        hits += res.hits;
      }
      let num = 0;
      let den = 0;
      for (let i = 0; i < size; i++) {
        num += (sum[i] - whole[i]) ** 2;
        den += whole[i] ** 2;
      }
      expect(den).toBeGreaterThan(0);
      expect(Math.sqrt(num / den)).toBeLessThan(1e-5);
      expect(lossSum).toBeCloseTo(one.lossSum, 4);
      expect(hits).toBe(one.hits);
    }
    model.dispose();
  });
});

describe('trainModel with training.threads', () => {
  it('one SGD step on two threads equals the same step on one thread (to float32 rounding)', async () => {
    const sgd = { optimizer: 'sgd' as const, learningRate: 0.1, epochs: 1, batchSize: 64 };
    const n = 64;
    const single = await train(plain, 5, { ...sgd }, { examples: data.examples.subarray(0, n * 784), labels: data.labels.subarray(0, n) });
    const double = await train(plain, 5, { ...sgd, threads: 2 }, { examples: data.examples.subarray(0, n * 784), labels: data.labels.subarray(0, n) });
    expect(single.floats.length).toBe(double.floats.length);
    let maxDiff = 0;
    single.floats.forEach((w, i) => (maxDiff = Math.max(maxDiff, Math.abs(w - double.floats[i]))));
    expect(maxDiff).toBeLessThan(1e-6);
    expect(double.history.epochs[0].loss).toBeCloseTo(single.history.epochs[0].loss, 5);
    expect(double.history.epochs[0].accuracy).toBe(single.history.epochs[0].accuracy);
  });

  it('every replica applies the schedule, weight decay, clipping and label smoothing: two threads follow one to float32 rounding', async () => {
    // SGD, so a replica that skipped an option would drift from thread 0 and send gradients taken
    // at other weights: the summed step would then differ far beyond rounding.
    const recipe: Partial<TrainingConfig> = {
      optimizer: 'sgd',
      learningRate: 0.2,
      epochs: 3,
      batchSize: 32,
      shuffle: true,
      schedule: { type: 'step', every: 1, factor: 0.5 },
      weightDecay: 0.5,
      clipNorm: 0.5,
      labelSmoothing: 0.2,
    };
    const n = 96;
    const part = { examples: data.examples.subarray(0, n * 784), labels: data.labels.subarray(0, n) };
    const single = await train(plain, 5, recipe, part);
    const double = await train(plain, 5, { ...recipe, threads: 2 }, part);
    let maxDiff = 0;
    single.floats.forEach((w, i) => (maxDiff = Math.max(maxDiff, Math.abs(w - double.floats[i]))));
    expect(maxDiff).toBeLessThan(1e-5);
    expect(double.history.epochs.map((e) => e.learningRate)).toEqual([0.2, 0.1, 0.05]);
    // Each option moved the weights by far more than that.
    for (const off of [{ schedule: undefined }, { weightDecay: undefined }, { clipNorm: undefined }, { labelSmoothing: undefined }]) {
      const other = await train(plain, 5, { ...recipe, ...off, threads: 2 }, part);
      let d = 0;
      other.floats.forEach((w, i) => (d = Math.max(d, Math.abs(w - double.floats[i]))));
      expect(d, JSON.stringify(off)).toBeGreaterThan(1e-3);
    }
    // Bit-identical run to run.
    expect((await train(plain, 5, { ...recipe, threads: 2 }, part)).weights.equals(double.weights)).toBe(true);
  });

  it('is bit-identical run to run (with dropout), depends on the seed, and learns', async () => {
    const a = await train(withDropout, 1, { threads: 2 });
    const b = await train(withDropout, 1, { threads: 2 });
    const c = await train(withDropout, 2, { threads: 2 });
    expect(a.weights.equals(b.weights)).toBe(true);
    expect(a.history.epochs.map((e) => [e.loss, e.accuracy])).toEqual(b.history.epochs.map((e) => [e.loss, e.accuracy]));
    expect(a.weights.equals(c.weights)).toBe(false);
    expect(a.history.epochs[1].loss).toBeLessThan(a.history.epochs[0].loss);
    // Three threads, and a last batch (200 = 6 x 32 + 8) that all of them share.
    const d = await train(withDropout, 1, { threads: 3 });
    expect(d.history.epochs[1].loss).toBeLessThan(d.history.epochs[0].loss);
    expect(d.history.epochs[0].samples).toBe(200);
  });

  it('replicas take stored bytes, their preprocessing and the augmentation: the weights of their float copy, bit for bit', async () => {
    const augment = { crop: 2, flip: true };
    const floats = await train(plain, 4, { threads: 2, epochs: 1, augment });
    const bytes = Uint8Array.from(data.examples, (v) => Math.round(v * 255));
    const prep = { scale: 1 / 255, mean: null, std: null, normalize: 'none' as const };
    const fromBytes = await train(plain, 4, { threads: 2, epochs: 1, augment }, { examples: bytes, dtype: 'uint8', preprocessing: prep });
    expect(fromBytes.weights.equals(floats.weights)).toBe(true);
    const unaugmented = await train(plain, 4, { threads: 2, epochs: 1 });
    expect(unaugmented.weights.equals(floats.weights)).toBe(false);
  });

  it('leaks no tensors and stops its threads', async () => {
    await train(plain, 3, { threads: 2, epochs: 1 });
    const before = tf.memory().numTensors;
    await train(plain, 3, { threads: 2, epochs: 1 });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a NaN stops every thread with E_DIVERGED at the exact step', async () => {
    const images = data.examples.slice(0, 100 * 784);
    images[70 * 784 + 300] = NaN; // image 70: third batch of 32 when not shuffled, second thread's half
    const err = await rejection(train(withDropout, 6, { threads: 2, shuffle: false }, { examples: images, labels: data.labels.subarray(0, 100) }));
    expect(err.code).toBe('E_DIVERGED');
    expect(err.message).toContain('stage student: loss became NaN at epoch 1, step 3 of 4');
  });

  it('a thread that cannot start is a clear error, not a hang', async () => {
    // The replica is built from other layers than the model it must copy.
    const model = buildModel(plain, SHAPE, 7, { role: 'student' });
    const err = await rejection(
      trainModel({
        model,
        ...data,
        inputShape: SHAPE,
        numClasses: 10,
        config: cfg({ threads: 2 }),
        seed: 7,
        stage: 'student',
        spec: { layers: withDropout, seed: 7, role: 'student' },
      }),
    );
    model.dispose();
    expect(err).toBeInstanceOf(KdqError);
    expect(err.message).toMatch(/training thread 1: its model has \d+ weights .* the layer specs differ/);
    const noSpec = buildModel(plain, SHAPE, 7, { role: 'student' });
    const err2 = await rejection(
      trainModel({ model: noSpec, ...data, inputShape: SHAPE, numClasses: 10, config: cfg({ threads: 2 }), seed: 7, stage: 'student' }),
    );
    noSpec.dispose();
    expect(err2.code).toBe('E_INTERNAL');
  });
});

describe('kdq run with training.threads: 2', () => {
  it('runs every stage through the CLI (compiled or TypeScript entry)', { timeout: 300_000 }, async () => {
    const root = path.join(import.meta.dirname, '..', '..');
    const dir = await mkdtemp(path.join(tmpdir(), 'kdq-threads-'));
    try {
      await promisify(execFile)(
        process.execPath,
        [
          path.join(root, 'bin', 'kdq.mjs'),
          'run',
          path.join(root, 'test', 'e2e', 'micro.yaml'),
          '--set',
          'teacher.training.threads=2',
          '--set',
          'student.training.threads=2',
          '--runs-dir',
          path.join(dir, 'runs'),
          '--cache-dir',
          path.join(dir, 'cache'),
          '--backend',
          'wasm',
        ],
        { cwd: dir },
      );
      const metrics = JSON.parse(await readFile(path.join(dir, 'runs', 'e2e-micro', 'latest', 'metrics.json'), 'utf8'));
      expect(metrics.models.teacher.accuracy).toBeGreaterThan(0);
      expect(metrics.models.student_int8.tflite.accuracy).toBeGreaterThan(0);
      const config = await readFile(path.join(dir, 'runs', 'e2e-micro', 'latest', 'config.yaml'), 'utf8');
      expect(config).toMatch(/threads: 2/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
