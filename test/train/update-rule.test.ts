/** The update rule every stepper shares: decoupled weight decay and global gradient-norm clipping. */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.ts';
import type { LayerSpec } from '../../src/config/types.ts';
import { buildModel } from '../../src/models/build.ts';
import { trainModel } from '../../src/train/train.ts';
import { decayedVariables, globalNorm, UpdateRule } from '../../src/train/update-rule.ts';
import { trainingConfig } from './fixtures.ts';
import { mnistSubset } from './mnist-subset.ts';

beforeAll(async () => {
  await initBackend('wasm');
});

const SHAPE: [number, number, number] = [28, 28, 1];
const layers: LayerSpec[] = [
  { type: 'conv2d', filters: 4, kernelSize: 3, strides: 2, padding: 'valid', activation: 'linear', useBias: true },
  { type: 'batchNormalization', momentum: 0.9, epsilon: 0.001 },
  { type: 'activation', activation: 'relu' },
  { type: 'flatten' },
  { type: 'dense', units: 10, activation: 'linear', useBias: true },
];
const data = mnistSubset(64);

const trainable = (m: tf.LayersModel) => m.trainableWeights.map((w) => w.read() as tf.Variable);
const values = (vars: tf.Variable[]) => vars.map((v) => (v.dataSync() as Float32Array).slice());

describe('weight decay', () => {
  it('decays the conv and dense kernels only: not biases, not batch norm gamma and beta', () => {
    const model = buildModel(layers, SHAPE, 1, { role: 'student' });
    const names = decayedVariables(trainable(model)).map((v) => v.name);
    expect(names).toHaveLength(2);
    expect(names.every((n) => /kernel/.test(n))).toBe(true);
    expect(
      trainable(model)
        .filter((v) => !names.includes(v.name))
        .map((v) => v.shape.length),
    ).toEqual([1, 1, 1, 1]);
    model.dispose();
  });

  for (const optimizer of ['adam', 'sgd', 'rmsprop'] as const) {
    it(`${optimizer}: a zero-gradient step shrinks each kernel weight by lr * wd of itself and leaves the rest as they were`, () => {
      const model = buildModel(layers, SHAPE, 2, { role: 'student' });
      const vars = trainable(model);
      const before = values(vars);
      const lr = 0.01;
      const wd = 0.5;
      const rule = new UpdateRule({ ...trainingConfig({ optimizer, learningRate: lr, momentum: 0 }), weightDecay: wd }, vars);
      const zeros = Object.fromEntries(vars.map((v) => [v.name, tf.zerosLike(v)]));
      rule.applyGradients(zeros);
      const keep = Math.fround(1 - lr * wd);
      const decayed = new Set(decayedVariables(vars).map((v) => v.name));
      vars.forEach((v, i) => {
        const after = v.dataSync() as Float32Array;
        const want = decayed.has(v.name) ? before[i].map((w) => Math.fround(w * keep)) : before[i];
        expect(Buffer.from(after.buffer).equals(Buffer.from(want.buffer)), `${v.name}`).toBe(true);
      });
      // Without weightDecay the same step changes nothing.
      const plain = new UpdateRule(trainingConfig({ optimizer, learningRate: lr, momentum: 0 }), vars);
      const mid = values(vars);
      plain.applyGradients(zeros);
      vars.forEach((v, i) => expect(Array.from(v.dataSync())).toEqual(Array.from(mid[i])));
      tf.dispose(Object.values(zeros));
      rule.dispose();
      plain.dispose();
      model.dispose();
    });
  }

  it('uses the scheduled rate of the epoch: the shrink follows the schedule', () => {
    const model = buildModel(layers, SHAPE, 3, { role: 'student' });
    const vars = trainable(model);
    const kernel = decayedVariables(vars)[0];
    const rule = new UpdateRule(
      { ...trainingConfig({ optimizer: 'sgd', learningRate: 0.1, momentum: 0, epochs: 3 }), weightDecay: 1, schedule: { type: 'step', every: 1, factor: 0.5 } },
      vars,
    );
    const zeros = Object.fromEntries(vars.map((v) => [v.name, tf.zerosLike(v)]));
    const w0 = (kernel.dataSync() as Float32Array)[0];
    rule.startEpoch(2); // rate 0.025
    rule.applyGradients(zeros);
    expect((kernel.dataSync() as Float32Array)[0]).toBe(Math.fround(w0 * Math.fround(1 - 0.025)));
    tf.dispose(Object.values(zeros));
    rule.dispose();
    model.dispose();
  });
});

describe('clipNorm', () => {
  it('measures the global norm over every variable together', () => {
    const a = tf.variable(tf.tensor2d([[3, 0]]), true, 'clip-a');
    const b = tf.variable(tf.tensor1d([0, 4]), true, 'clip-b');
    const grads = { 'clip-a': tf.tensor2d([[3, 0]]), 'clip-b': tf.tensor1d([0, 4]) };
    expect(globalNorm(grads, [a, b])).toBe(5);
    tf.dispose([a, b, ...Object.values(grads)]);
  });

  it('scales an SGD step down to clipNorm (the update norm is lr * clipNorm), and leaves a smaller one alone', async () => {
    const n = 64;
    const step = async (clipNorm: number | undefined) => {
      const model = buildModel(layers, SHAPE, 5, { role: 'student' });
      const before = values(trainable(model));
      await trainModel({
        model,
        ...data,
        inputShape: SHAPE,
        numClasses: 10,
        seed: 5,
        stage: 's',
        config: {
          ...trainingConfig({ optimizer: 'sgd', momentum: 0, learningRate: 0.5, epochs: 1, batchSize: n, shuffle: false }),
          ...(clipNorm ? { clipNorm } : {}),
        },
      });
      let sq = 0;
      trainable(model).forEach((v, i) => (v.dataSync() as Float32Array).forEach((w, j) => (sq += (w - before[i][j]) ** 2)));
      model.dispose();
      return Math.sqrt(sq);
    };
    const free = await step(undefined);
    expect(free).toBeGreaterThan(0.5 * 0.2);
    // 0.5 * 0.01: the clipped gradient has norm 0.01, the step is lr times it (float32 rounding aside).
    expect(await step(0.01)).toBeCloseTo(0.005, 6);
    // A limit above the gradient's norm changes nothing.
    expect(await step(1000)).toBe(free);
  });
});
