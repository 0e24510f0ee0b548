import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { fastAdam, initBackend } from '../../src/backend/index.ts';
import { relativeError, values } from './compare-backends.ts';

function model(): tf.Sequential {
  return tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 4, kernelSize: 3, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 5, kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }),
    ],
  });
}

/** Trains `steps` Adam steps on fixed data; returns the final weights and the optimizer's weight count. */
async function train(make: () => tf.Optimizer, steps: number): Promise<{ weights: Float32Array[]; state: number; leaked: number }> {
  const before = tf.memory().numTensors;
  const m = model();
  const opt = make();
  const xs = tf.tensor4d(values(16 * 64, 3, true), [16, 8, 8, 1]);
  const ys = tf.tidy(() =>
    tf
      .oneHot(
        tf.tensor1d(
          Int32Array.from({ length: 16 }, (_, i) => i % 5),
          'int32',
        ),
        5,
      )
      .toFloat(),
  );
  for (let i = 0; i < steps; i++) {
    opt.minimize(() => tf.losses.softmaxCrossEntropy(ys, m.apply(xs) as tf.Tensor) as tf.Scalar, true)?.dispose();
  }
  const weights = m.getWeights().map((w) => w.dataSync() as Float32Array);
  const saved = await opt.getWeights();
  const state = saved.length;
  saved[0].tensor.dispose(); // the iteration count, a fresh scalar; the rest are the optimizer's own variables
  tf.dispose([xs, ys]);
  m.dispose();
  opt.dispose();
  return { weights, state, leaked: tf.memory().numTensors - before };
}

beforeAll(async () => {
  await initBackend('wasm');
});

describe('fastAdam', () => {
  it('matches tf.train.adam on wasm to float32 rounding, keeps the same state and leaks nothing', async () => {
    const stock = await train(() => tf.train.adam(0.01), 12);
    const fast = await train(() => fastAdam(0.01), 12);
    expect(fast.state).toBe(stock.state);
    expect(fast.state).toBe(1 + 2 * 4);
    expect([stock.leaked, fast.leaked]).toEqual([0, 0]);
    for (let i = 0; i < stock.weights.length; i++) expect(relativeError(fast.weights[i], stock.weights[i])).toBeLessThan(1e-4);
    // And it did train: the weights moved away from their initial values.
    const init = model();
    expect(relativeError(fast.weights[2], init.getWeights()[2].dataSync())).toBeGreaterThan(1e-3);
    init.dispose();
  });

  it('is tf.js AdamOptimizer itself on cpu, bit for bit', async () => {
    await initBackend('cpu');
    try {
      const stock = await train(() => tf.train.adam(0.01), 5);
      const fast = await train(() => fastAdam(0.01), 5);
      for (let i = 0; i < stock.weights.length; i++) expect(Array.from(fast.weights[i])).toEqual(Array.from(stock.weights[i]));
    } finally {
      await initBackend('wasm');
    }
  });
});
