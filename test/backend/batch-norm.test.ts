import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.ts';
import { setSimdEnabled } from '../../src/backend/simd/index.ts';
import { BATCH_NORM_TRAIN, BATCH_NORM_TRAIN_GRAD } from '../../src/backend/wasm-kernels/batch-norm.ts';
import { RELU, RELU_GRAD } from '../../src/backend/wasm-kernels/relu.ts';
import { LAYER_REGISTRY } from '../../src/models/layer-registry.ts';
import { relativeError, values } from './compare-backends.ts';

const TOL = 1e-4;
const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

interface Result {
  y: Float32Array;
  dx: Float32Array;
  dWeights: Float32Array[];
  moving: Float32Array[];
}

/** Which kernels ran, by name, while `fn` ran on the active backend. */
async function kernelsRun(fn: () => void): Promise<Set<string>> {
  const profile = await tf.profile(fn);
  return new Set(profile.kernels.map((k) => k.name));
}

/**
 * One training-mode call of a kdq-built layer on `backend`: its output, the gradient of
 * sum(y * r) with respect to the input and the layer's trainable weights, and the layer's
 * non-trainable weights (moving statistics) afterwards.
 */
async function trainCall(backend: 'cpu' | 'wasm', layer: () => tf.layers.Layer, shape: number[]): Promise<Result> {
  await initBackend(backend);
  const l = layer();
  const x = tf.variable(tf.tensor(values(size(shape), 1), shape));
  l.build(shape);
  // Distinct gammas and betas, so that a swapped or ignored one shows.
  l.setWeights(l.getWeights().map((w, i) => (i < 2 ? tf.tensor(values(w.size, 10 + i), w.shape).add(i === 0 ? 1 : 0) : w)));
  const r = tf.tensor(values(size(shape), 2), shape);
  const vars = [x, ...l.trainableWeights.map((w) => w.read() as tf.Variable)];
  const { grads } = tf.variableGrads(() => tf.sum(tf.mul(l.apply(x, { training: true }) as tf.Tensor, r)) as tf.Scalar, vars);
  const y = (l.apply(x, { training: true }) as tf.Tensor).dataSync() as Float32Array;
  // The second call updated the moving statistics again: compare after both, as both backends did.
  const out = {
    y,
    dx: grads[x.name]!.dataSync() as Float32Array,
    dWeights: l.trainableWeights.map((w) => grads[(w.read() as tf.Variable).name]!.dataSync() as Float32Array),
    moving: l.nonTrainableWeights.map((w) => w.read().dataSync() as Float32Array),
  };
  tf.dispose([x, r, ...Object.values(grads)]);
  for (const w of l.weights) w.dispose();
  return out;
}

const bn = () => LAYER_REGISTRY.batchNormalization({ type: 'batchNormalization', momentum: 0.9, epsilon: 0.001 }, { name: 'bn', seed: 1 });
const relu = () => LAYER_REGISTRY.activation({ type: 'activation', activation: 'relu' }, { name: 'relu', seed: 1 });

beforeAll(async () => {
  await initBackend('wasm');
});

afterAll(async () => {
  setSimdEnabled(true);
  await initBackend('wasm');
});

describe("batch normalization while training: kdq's kernels on wasm match tf.js' layer on cpu", () => {
  // Channels in fours (SIMD) and not (JavaScript); more than 256 rows (several summing blocks); rank 2 (after dense).
  const shapes = [
    [2, 5, 7, 16],
    [3, 4, 4, 3],
    [4, 9, 9, 32],
    [6, 8],
    [2, 3, 3, 1],
    [32, 8, 8, 64],
  ];
  for (const shape of shapes) {
    for (const simd of [true, false]) {
      it(`${shape.join('x')}, ${simd ? 'SIMD' : 'JavaScript'} path: output, input and weight gradients, moving statistics`, async () => {
        const cpu = await trainCall('cpu', bn, shape);
        setSimdEnabled(simd);
        const wasm = await trainCall('wasm', bn, shape);
        setSimdEnabled(true);
        expect(relativeError(wasm.y, cpu.y)).toBeLessThan(TOL);
        expect(relativeError(wasm.dx, cpu.dx)).toBeLessThan(TOL);
        expect(wasm.dWeights.length).toBe(2);
        for (let i = 0; i < 2; i++) expect(relativeError(wasm.dWeights[i]!, cpu.dWeights[i]!), `weight ${i}`).toBeLessThan(TOL);
        for (let i = 0; i < 2; i++) expect(relativeError(wasm.moving[i]!, cpu.moving[i]!), `moving ${i}`).toBeLessThan(TOL);
      });
    }
  }

  it("runs kdq's two kernels on wasm, not tf.js' moments and FusedBatchNorm", async () => {
    await initBackend('wasm');
    const l = bn();
    const x = tf.variable(tf.tensor(values(2 * 3 * 3 * 8, 3), [2, 3, 3, 8]));
    const names = await kernelsRun(() => {
      tf.tidy(() => tf.variableGrads(() => tf.sum(l.apply(x, { training: true }) as tf.Tensor) as tf.Scalar, [x]));
    });
    expect(names.has(BATCH_NORM_TRAIN) && names.has(BATCH_NORM_TRAIN_GRAD)).toBe(true);
    expect(names.has('FusedBatchNorm') || names.has('Mean')).toBe(false);
    x.dispose();
    for (const w of l.weights) w.dispose();
  });
});

describe('relu activation layers: KdqRelu on wasm matches tf.js on cpu', () => {
  for (const shape of [
    [2, 5, 7, 16],
    [3, 5],
  ]) {
    it(`${shape.join('x')}: output and input gradient, zeros included`, async () => {
      const cpu = await trainCall('cpu', relu, shape);
      const wasm = await trainCall('wasm', relu, shape);
      expect(Array.from(wasm.y)).toEqual(Array.from(cpu.y));
      expect(relativeError(wasm.dx, cpu.dx)).toBe(0);
      expect(wasm.dx.some((v) => v === 0) && wasm.dx.some((v) => v !== 0)).toBe(true);
    });
  }

  it('runs KdqRelu and its one-pass gradient on wasm, not Step, Cast and Multiply', async () => {
    await initBackend('wasm');
    const l = relu();
    const x = tf.variable(tf.tensor(values(64, 4), [4, 16]));
    const names = await kernelsRun(() => {
      tf.tidy(() => tf.variableGrads(() => tf.sum(l.apply(x) as tf.Tensor) as tf.Scalar, [x]));
    });
    expect(names.has(RELU) && names.has(RELU_GRAD)).toBe(true);
    expect(names.has('Step')).toBe(false);
    x.dispose();
    for (const w of l.weights) w.dispose();
  });
});
