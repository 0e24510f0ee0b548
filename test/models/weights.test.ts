import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.ts';
import type { LayerSpec } from '../../src/config/types.ts';
import { buildModel } from '../../src/models/build.ts';
import { loadWeights, saveWeights } from '../../src/models/weights.ts';

beforeAll(async () => {
  await initBackend('wasm');
});

const specs: LayerSpec[] = [
  { type: 'conv2d', filters: 3, kernelSize: 3, strides: 1, padding: 'valid', activation: 'relu', useBias: true },
  { type: 'batchNormalization', momentum: 0.99, epsilon: 0.001 },
  { type: 'flatten' },
  { type: 'dense', units: 4, activation: 'linear', useBias: true },
];
const view0 = (d: Uint8Array) => new DataView(d.buffer, d.byteOffset, d.byteLength);
const sha = (d: Uint8Array) => createHash('sha256').update(d).digest('hex');

describe('saveWeights / loadWeights', () => {
  it('lists every weight with stable names and packs them little-endian in order', () => {
    const model = buildModel(specs, [5, 5, 1], 1, { role: 'student' });
    const saved = saveWeights(model);
    expect(saved.manifest).toEqual([
      { name: 'student_0_conv2d/kernel', shape: [3, 3, 1, 3], dtype: 'float32' },
      { name: 'student_0_conv2d/bias', shape: [3], dtype: 'float32' },
      { name: 'student_1_batchNormalization/gamma', shape: [3], dtype: 'float32' },
      { name: 'student_1_batchNormalization/beta', shape: [3], dtype: 'float32' },
      { name: 'student_3_dense/kernel', shape: [27, 4], dtype: 'float32' },
      { name: 'student_3_dense/bias', shape: [4], dtype: 'float32' },
      // tf.js lists non-trainable weights after all trainable ones.
      { name: 'student_1_batchNormalization/moving_mean', shape: [3], dtype: 'float32' },
      { name: 'student_1_batchNormalization/moving_variance', shape: [3], dtype: 'float32' },
    ]);
    expect(saved.data.length).toBe((27 + 3 + 3 + 3 + 27 * 4 + 4 + 3 + 3) * 4);
    expect(view0(saved.data).getFloat32((27 + 3 + 3 + 3 + 27 * 4 + 4 + 3) * 4, true)).toBe(1); // moving variance starts at one
    const view = new DataView(saved.data.buffer, saved.data.byteOffset);
    const kernel = model.getWeights()[0].dataSync();
    expect(view.getFloat32(0, true)).toBe(kernel[0]);
    expect(view.getFloat32(26 * 4, true)).toBe(kernel[26]);
    expect(view.getFloat32((27 + 3) * 4, true)).toBe(1); // gamma starts at one
    model.dispose();
  });

  it('gives the same bytes for the same seed, even when tf.js renames repeated variables', () => {
    const a = buildModel(specs, [5, 5, 1], 1, { role: 'student' });
    const b = buildModel(specs, [5, 5, 1], 1, { role: 'student' }); // its variables are called ..._1 inside tf.js
    expect(b.weights[0].name).not.toBe(a.weights[0].name);
    const sa = saveWeights(a);
    const sb = saveWeights(b);
    expect(sb.manifest).toEqual(sa.manifest);
    expect(sha(sb.data)).toBe(sha(sa.data));
    [a, b].forEach((m) => m.dispose());
  });

  it('round-trips into a differently seeded model, from a view at an odd offset, without leaks', () => {
    const a = buildModel(specs, [5, 5, 1], 1, { role: 'student' });
    const b = buildModel(specs, [5, 5, 1], 2, { role: 'student' });
    const saved = saveWeights(a);
    expect(sha(saveWeights(b).data)).not.toBe(sha(saved.data));
    const buf = new Uint8Array(saved.data.length + 3);
    buf.set(saved.data, 3);
    const before = tf.memory().numTensors;
    loadWeights(b, { manifest: saved.manifest, data: buf.subarray(3) });
    expect(tf.memory().numTensors).toBe(before);
    expect(sha(saveWeights(b).data)).toBe(sha(saved.data));
    const x = tf.ones([1, 5, 5, 1]);
    expect(Array.from((b.predict(x) as tf.Tensor).dataSync())).toEqual(Array.from((a.predict(x) as tf.Tensor).dataSync()));
    [a, b].forEach((m) => m.dispose());
  });

  it('refuses weights of another model or truncated data with E_CACHE, changing nothing', () => {
    const a = buildModel(specs, [5, 5, 1], 1, { role: 'student' });
    const other = buildModel([...specs.slice(0, 3), { type: 'dense', units: 5, activation: 'linear', useBias: true }], [5, 5, 1], 1, { role: 'student' });
    const original = sha(saveWeights(a).data);
    expect(() => loadWeights(a, saveWeights(other))).toThrow(
      /saved weight 4 is student_3_dense\/kernel \[27, 5\] float32 but the model expects student_3_dense\/kernel \[27, 4\]/,
    );
    const saved = saveWeights(a);
    expect(() => loadWeights(a, { ...saved, data: saved.data.subarray(4) })).toThrow(/truncated or corrupt/);
    expect(() => loadWeights(a, { ...saved, manifest: saved.manifest.slice(1) })).toThrow(/list 7 tensors but the model has 8/);
    expect(sha(saveWeights(a).data)).toBe(original);
    [a, other].forEach((m) => m.dispose());
  });
});
