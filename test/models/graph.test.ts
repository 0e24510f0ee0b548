/**
 * Layer lists with branches (`name`, `inputs`, `add`, `concatenate`) build functional tf.js
 * models that compute what the wiring says, through the same kdq layers as a chain; a chain, named
 * or not, stays the tf.sequential it always was.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.ts';
import { resolveLayer } from '../../src/config/defaults.ts';
import type { LayerSpec } from '../../src/config/types.ts';
import type { KdqError } from '../../src/errors.ts';
import { buildModel, modelSummary } from '../../src/models/build.ts';
import { crossEntropyFromLogits } from '../../src/models/losses.ts';
import { values } from '../backend/compare-backends.ts';

const L = (raw: Record<string, unknown>[]): LayerSpec[] => raw.map(resolveLayer);

/** conv (a) and a 1x1 conv of the input (b), summed, then a dense head. */
const RESIDUAL = L([
  { type: 'conv2d', filters: 3, kernelSize: 3, padding: 'same', activation: 'relu', name: 'a' },
  { type: 'conv2d', filters: 3, kernelSize: 1, inputs: ['input'], name: 'b' },
  { type: 'add', inputs: ['a', 'b'] },
  { type: 'activation', activation: 'relu' },
  { type: 'flatten' },
  { type: 'dense', units: 4 },
]);

beforeAll(async () => {
  await initBackend('wasm');
});

function run(model: tf.LayersModel, x: tf.Tensor): Float32Array {
  return tf.tidy(() => (model.apply(x) as tf.Tensor).dataSync() as Float32Array);
}

describe('graphs', () => {
  it('a residual add computes relu(conv_a(x) + conv_b(x)) followed by the head, with index-based layer names', () => {
    const model = buildModel(RESIDUAL, [5, 5, 2], 4, { role: 'student' });
    expect(model).not.toBeInstanceOf(tf.Sequential);
    const byName = (n: string) => model.getLayer(n).getWeights();
    const x = tf.tensor4d(values(2 * 50, 3, true), [2, 5, 5, 2]);
    const want = tf.tidy(() => {
      const [ka, ba] = byName('student_0_conv2d');
      const [kb, bb] = byName('student_1_conv2d');
      const a = tf.relu(tf.add(tf.conv2d(x, ka as tf.Tensor4D, 1, 'same'), ba));
      const b = tf.add(tf.conv2d(x, kb as tf.Tensor4D, 1, 'valid'), bb);
      const [kd, bd] = byName('student_5_dense');
      return tf.add(tf.matMul(tf.reshape(tf.relu(tf.add(a, b)), [2, 75]), kd as tf.Tensor2D), bd).dataSync();
    });
    const got = run(model, x);
    got.forEach((v, i) => expect(Math.abs(v - want[i])).toBeLessThan(1e-5));
    const summary = modelSummary(model);
    expect(summary.layers.find((l) => l.name === 'student_2_add')?.inputs).toEqual(['student_0_conv2d', 'student_1_conv2d']);
    expect(summary.layers.find((l) => l.name === 'student_1_conv2d')?.inputs).toEqual(['student_input']);
    expect(summary.layers.map((l) => l.className)).not.toContain('InputLayer');
    x.dispose();
    model.dispose();
  });

  it('concatenate stacks channels', () => {
    const model = buildModel(
      L([
        { type: 'conv2d', filters: 3, kernelSize: 3, padding: 'same', name: 'a' },
        { type: 'concatenate', inputs: ['a', 'input'] },
        { type: 'globalAveragePooling2d' },
        { type: 'dense', units: 2 },
      ]),
      [4, 4, 2],
      1,
    );
    expect(model.getLayer('model_1_concatenate').outputShape).toEqual([null, 4, 4, 5]);
    model.dispose();
  });

  it('a chain stays a tf.sequential, names or not, with the same weights and outputs bit for bit', () => {
    const chain = [
      { type: 'conv2d', filters: 4, kernelSize: 3, activation: 'relu' },
      { type: 'batchNormalization' },
      { type: 'flatten' },
      { type: 'dense', units: 3 },
    ];
    const plain = buildModel(L(chain), [6, 6, 1], 9);
    const named = buildModel(L(chain.map((l, i) => ({ ...l, name: `l${i}`, ...(i === 1 ? { inputs: ['l0'] } : {}) }))), [6, 6, 1], 9);
    expect(plain).toBeInstanceOf(tf.Sequential);
    expect(named).toBeInstanceOf(tf.Sequential);
    const w = (m: tf.LayersModel) => m.getWeights().map((t) => Buffer.from((t.dataSync() as Float32Array).buffer));
    w(named).forEach((b, i) => expect(b.equals(w(plain)[i]!)).toBe(true));
    const x = tf.tensor4d(values(36, 2, true), [1, 6, 6, 1]);
    expect(Buffer.from(run(named, x).buffer).equals(Buffer.from(run(plain, x).buffer))).toBe(true);
    tf.dispose([x]);
    [plain, named].forEach((m) => m.dispose());
  });

  it('a final softmax activation layer is dropped: the output is its source', () => {
    const withSoftmax = buildModel(L([...RESIDUAL.map((l) => ({ ...l })), { type: 'activation', activation: 'softmax' }]), [5, 5, 2], 4);
    const logits = buildModel(RESIDUAL, [5, 5, 2], 4);
    const x = tf.tensor4d(values(50, 8, true), [1, 5, 5, 2]);
    expect(Array.from(run(withSoftmax, x))).toEqual(Array.from(run(logits, x)));
    x.dispose();
    [withSoftmax, logits].forEach((m) => m.dispose());
  });

  it('refuses wiring it cannot build, as E_CONFIG naming the layer and key', () => {
    const bad = L([
      { type: 'conv2d', filters: 3, kernelSize: 1, name: 'bn2' },
      { type: 'conv2d', filters: 3, kernelSize: 1, name: 'c' },
      { type: 'add', inputs: ['c', 'b2'] },
      { type: 'flatten' },
      { type: 'dense', units: 2 },
    ]);
    expect(() => buildModel(bad, [3, 3, 1], 1, { role: 'student' })).toThrow(
      expect.objectContaining({
        code: 'E_CONFIG',
        message: expect.stringContaining("student.layers.2.inputs.1: layer 2 (add): no earlier layer is named 'b2'; did you mean 'bn2'?"),
      }) as KdqError,
    );
  });

  it("trains through kdq's fused conv and dense kernels on wasm, like a chain", async () => {
    const model = buildModel(
      L([
        { type: 'conv2d', filters: 4, kernelSize: 3, padding: 'same', activation: 'relu' },
        { type: 'conv2d', filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', name: 'b' },
        { type: 'add', inputs: ['b', 'input'] },
        { type: 'flatten' },
        { type: 'dense', units: 8, activation: 'relu' },
        { type: 'dense', units: 3 },
      ]),
      [6, 6, 4],
      2,
    );
    const x = tf.tensor4d(values(2 * 144, 4, true), [2, 6, 6, 4]);
    const y = tf.tidy(() => tf.oneHot(tf.tensor1d([0, 2], 'int32'), 3).toFloat() as tf.Tensor2D);
    const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const profile = await tf.profile(() => {
      const { value, grads } = tf.variableGrads(() => crossEntropyFromLogits(y, model.apply(x, { training: true }) as tf.Tensor2D), vars);
      tf.dispose([value, ...Object.values(grads)]);
      return [] as unknown as tf.TensorContainer;
    });
    const kernels = profile.kernels.map((k) => k.name);
    expect(kernels.filter((k) => k === 'KdqFusedConv2D')).toHaveLength(2);
    expect(kernels).toContain('KdqFusedDense');
    tf.dispose([x, y]);
    model.dispose();
  });
});
