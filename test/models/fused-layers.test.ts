import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.ts';
import type { LayerSpec } from '../../src/config/types.ts';
import { buildModel } from '../../src/models/build.ts';
import { crossEntropyFromLogits } from '../../src/models/losses.ts';
import { relativeError, values } from '../backend/compare-backends.ts';

const LAYERS: LayerSpec[] = [
  { type: 'conv2d', filters: 8, kernelSize: 3, strides: 1, padding: 'same', activation: 'relu', useBias: true },
  { type: 'maxPooling2d', poolSize: 2, padding: 'valid' },
  { type: 'conv2d', filters: 4, kernelSize: 3, strides: 2, padding: 'valid', activation: 'relu', useBias: true },
  { type: 'flatten' },
  { type: 'dense', units: 12, activation: 'relu', useBias: true },
  { type: 'dense', units: 5, activation: 'linear', useBias: true },
] as LayerSpec[];

/** Convs without activation before batch normalization (ResNet's pattern), the first on the data. */
const LINEAR_CONV_LAYERS: LayerSpec[] = [
  { type: 'conv2d', filters: 8, kernelSize: 3, strides: 1, padding: 'same', activation: 'linear', useBias: true },
  { type: 'batchNormalization', momentum: 0.99, epsilon: 0.001 },
  { type: 'activation', activation: 'relu' },
  { type: 'conv2d', filters: 4, kernelSize: 3, strides: 2, padding: 'valid', activation: 'linear', useBias: true },
  { type: 'flatten' },
  { type: 'dense', units: 5, activation: 'linear', useBias: true },
] as LayerSpec[];

/** Loss, logits and every weight gradient of one batch on `backend`, with the weights given. */
async function gradients(backend: 'cpu' | 'wasm', weights?: Float32Array[], layers: LayerSpec[] = LAYERS) {
  await initBackend(backend);
  const model = buildModel(layers, [10, 10, 1], 3, { role: 'fused' });
  if (weights) model.setWeights(weights.map((w, i) => tf.tensor(w, model.getWeights()[i].shape)));
  const x = tf.tensor4d(values(6 * 100, 5, true), [6, 10, 10, 1]);
  const y = tf.tidy(() => tf.oneHot(tf.tensor1d([0, 1, 2, 3, 4, 0], 'int32'), 5).toFloat() as tf.Tensor2D);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const kernels: string[] = [];
  const profile = await tf.profile(() => {
    const { value, grads } = tf.variableGrads(() => crossEntropyFromLogits(y, model.apply(x, { training: true }) as tf.Tensor2D), vars);
    const out = { loss: value.dataSync()[0], grads: vars.map((v) => grads[v.name].dataSync() as Float32Array) };
    tf.dispose([value, ...Object.values(grads)]);
    return out as unknown as tf.TensorContainer;
  });
  for (const k of profile.kernels) kernels.push(k.name);
  const result = profile.result as unknown as { loss: number; grads: Float32Array[] };
  const initial = model.getWeights().map((w) => w.dataSync() as Float32Array);
  tf.dispose([x, y]);
  model.dispose();
  return { ...result, kernels, initial };
}

afterAll(async () => {
  await initBackend('wasm');
});

describe('fused conv and dense layers on wasm', () => {
  it('give the gradients of the stock layers on cpu, and the first layer skips its input gradient', async () => {
    const wasm = await gradients('wasm');
    const cpu = await gradients('cpu', wasm.initial);
    expect(wasm.kernels).toEqual(expect.arrayContaining(['KdqFusedConv2D', 'KdqFusedDense', 'KdqReluBiasGrad']));
    expect(cpu.kernels).not.toContain('KdqFusedConv2D');
    // conv2 needs dx (it feeds conv1's gradient); conv1's input is the data, so only one backprop-input.
    expect(wasm.kernels.filter((k) => k === 'Conv2DBackpropInput')).toHaveLength(1);
    expect(Math.abs(wasm.loss - cpu.loss)).toBeLessThan(1e-5);
    expect(wasm.grads).toHaveLength(8);
    wasm.grads.forEach((g, i) => {
      expect(relativeError(g, cpu.grads[i]), `gradient ${i}`).toBeLessThan(1e-4);
      expect(
        g.some((v) => v !== 0),
        `gradient ${i} is not all zero`,
      ).toBe(true);
    });
  });

  it('take linear convs too, whose bias gradient is a sum and whose first layer skips its input gradient', async () => {
    const wasm = await gradients('wasm', undefined, LINEAR_CONV_LAYERS);
    const cpu = await gradients('cpu', wasm.initial, LINEAR_CONV_LAYERS);
    expect(wasm.kernels.filter((k) => k === 'KdqFusedConv2D')).toHaveLength(2);
    expect(wasm.kernels).not.toContain('KdqReluBiasGrad');
    // tf.js' fused conv would compute the first layer's input gradient too: 2 instead of 1.
    expect(wasm.kernels.filter((k) => k === 'Conv2DBackpropInput')).toHaveLength(1);
    expect(Math.abs(wasm.loss - cpu.loss)).toBeLessThan(1e-5);
    // conv 2, batch norm 2, conv 2, dense 2
    expect(wasm.grads).toHaveLength(8);
    const maxAbs = (a: Float32Array) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    wasm.grads.forEach((g, i) => {
      // Batch normalization cancels the first conv's bias: its gradient is rounding noise on both backends.
      if (i === 1) for (const b of [g, cpu.grads[i]]) expect(maxAbs(b)).toBeLessThan(1e-4 * maxAbs(wasm.grads[0]));
      else expect(relativeError(g, cpu.grads[i]), `gradient ${i}`).toBeLessThan(1e-4);
    });
  });
});
