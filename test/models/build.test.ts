import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.ts';
import type { LayerSpec } from '../../src/config/types.ts';
import { KdqError } from '../../src/errors.ts';
import { ACTIVATION_REGISTRY } from '../../src/models/activations.ts';
import { buildModel, modelSummary } from '../../src/models/build.ts';
import { LAYER_REGISTRY } from '../../src/models/layer-registry.ts';
import { SeededDropout } from '../../src/models/seeded-dropout.ts';
import { ACTIVATIONS, LAYER_TYPES, MERGE_LAYER_TYPES, type Activation, type Initializer } from '../../src/names.ts';

beforeAll(async () => {
  await initBackend('wasm');
});

const conv = (filters: number, extra: Partial<LayerSpec> = {}): LayerSpec =>
  ({ type: 'conv2d', filters, kernelSize: 3, strides: 1, padding: 'valid', activation: 'relu', useBias: true, ...extra }) as LayerSpec;
const dense = (units: number, activation: Activation = 'relu'): LayerSpec => ({
  type: 'dense',
  units,
  activation,
  useBias: true,
});
const flatten: LayerSpec = { type: 'flatten' };

function weightsOf(model: tf.LayersModel): Float32Array[] {
  return model.getWeights().map((w) => w.dataSync() as Float32Array);
}

/** Exact float equality, element by element (bit-identical for non-NaN values). */
function sameBits(a: Float32Array[], b: Float32Array[]): boolean {
  return a.length === b.length && a.every((x, i) => Buffer.from(x.buffer).equals(Buffer.from(b[i].buffer)));
}

describe('registries', () => {
  it('cover exactly the names of src/names.ts', () => {
    expect(Object.keys(LAYER_REGISTRY).sort()).toEqual([...LAYER_TYPES].sort());
    expect(Object.keys(ACTIVATION_REGISTRY).sort()).toEqual([...ACTIVATIONS].sort());
  });
});

describe('buildModel', () => {
  // One model using every layer kind; expected shapes worked out by hand for a 12x12x3 input.
  const every: { spec: LayerSpec; shape: number[] }[] = [
    { spec: conv(4), shape: [10, 10, 4] }, // 3x3 valid: 12 - 2
    { spec: { type: 'batchNormalization', momentum: 0.99, epsilon: 0.001 }, shape: [10, 10, 4] },
    { spec: { type: 'activation', activation: 'relu6' }, shape: [10, 10, 4] },
    {
      spec: { type: 'depthwiseConv2d', kernelSize: 3, depthMultiplier: 2, strides: 1, padding: 'same', activation: 'relu', useBias: true },
      shape: [10, 10, 8],
    },
    { spec: { type: 'maxPooling2d', poolSize: 2, strides: null, padding: 'valid' }, shape: [5, 5, 8] },
    { spec: conv(6, { strides: 2, padding: 'same', activation: 'tanh' }), shape: [3, 3, 6] }, // ceil(5 / 2)
    { spec: { type: 'averagePooling2d', poolSize: 2, strides: 1, padding: 'valid' }, shape: [2, 2, 6] },
    { spec: { type: 'dropout', rate: 0.5 }, shape: [2, 2, 6] },
    { spec: flatten, shape: [24] },
    { spec: dense(7, 'tanh'), shape: [7] },
    { spec: { type: 'activation', activation: 'sigmoid' }, shape: [7] },
    { spec: dense(5, 'linear'), shape: [5] },
  ];

  it('builds every layer kind with the output shapes of its spec', () => {
    const kinds = new Set<string>(every.map((e) => e.spec.type));
    kinds.add('globalAveragePooling2d');
    // add and concatenate join branches: test/models/graph.test.ts builds them.
    expect([...kinds].sort()).toEqual(LAYER_TYPES.filter((t) => !(MERGE_LAYER_TYPES as readonly string[]).includes(t)).sort());
    const model = buildModel(
      every.map((e) => e.spec),
      [12, 12, 3],
      7,
      { role: 'teacher' },
    );
    expect(model.layers.map((l) => (l.outputShape as number[]).slice(1))).toEqual(every.map((e) => e.shape));
    expect(model.layers.map((l) => l.name)).toEqual(every.map((e, i) => `teacher_${i}_${e.spec.type}`));
    const out = tf.tidy(() => (model.apply(tf.ones([2, 12, 12, 3])) as tf.Tensor).shape);
    expect(out).toEqual([2, 5]);
    model.dispose();

    const gap = buildModel([conv(3), { type: 'globalAveragePooling2d' }, dense(4, 'linear')], [6, 6, 1], 1);
    expect(gap.layers.map((l) => (l.outputShape as number[]).slice(1))).toEqual([[4, 4, 3], [3], [4]]);
    expect(gap.layers[0].name).toBe('model_0_conv2d');
    gap.dispose();
  });

  it('counts parameters like the layer formulas say', () => {
    const model = buildModel([conv(4), { type: 'batchNormalization', momentum: 0.99, epsilon: 0.001 }, flatten, dense(10, 'softmax')], [5, 5, 2], 3);
    const s = modelSummary(model);
    const convParams = 3 * 3 * 2 * 4 + 4;
    const bn = 4 * 4; // gamma, beta, moving mean, moving variance
    const denseParams = 3 * 3 * 4 * 10 + 10;
    expect(s.params).toBe(convParams + bn + denseParams);
    expect(s.trainableParams).toBe(convParams + 8 + denseParams);
    expect(s.layers.map((l) => l.params)).toEqual([convParams, bn, 0, denseParams]);
    expect(s.layers[3]).toMatchObject({ name: 'model_3_dense', className: 'Dense', outputShape: [10] });
    model.dispose();
  });

  it('outputs logits: a final softmax is dropped, on a dense layer or as an activation layer', () => {
    const x = tf.tensor4d(
      Array.from({ length: 2 * 16 }, (_, i) => (i % 7) / 7),
      [2, 4, 4, 1],
    );
    const withSoftmax = buildModel([flatten, dense(6, 'softmax')], [4, 4, 1], 11);
    const linear = buildModel([flatten, dense(6, 'linear')], [4, 4, 1], 11);
    const layerSoftmax = buildModel([flatten, dense(6, 'linear'), { type: 'activation', activation: 'softmax' }], [4, 4, 1], 11);
    const [a, b, c] = [withSoftmax, linear, layerSoftmax].map((m) => tf.tidy(() => (m.apply(x) as tf.Tensor).dataSync()));
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Array.from(c)).toEqual(Array.from(b));
    expect(layerSoftmax.layers).toHaveLength(2);
    // Logits, not probabilities: a row does not sum to 1 and has negative entries.
    const row = Array.from(a.slice(0, 6));
    expect(Math.abs(row.reduce((p, q) => p + q, 0) - 1)).toBeGreaterThan(1e-3);
    expect(row.some((v) => v < 0)).toBe(true);
    [withSoftmax, linear, layerSoftmax].forEach((m) => m.dispose());
    x.dispose();
  });

  it('rejects softmax before the last layer, quoting the layer and the fix', () => {
    const err = (() => {
      try {
        buildModel([flatten, dense(8, 'softmax'), dense(3, 'linear')], [4, 4, 1], 1, { role: 'student' });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(KdqError);
    expect((err as KdqError).code).toBe('E_CONFIG');
    expect((err as KdqError).message).toMatch(/student\.layers\.1 \(dense\).*softmax.*last layer/);
  });

  it('rejects a model that does not end in one logit per class', () => {
    expect(() => buildModel([conv(2)], [5, 5, 1], 1)).toThrow(/output has shape \[batch, 3, 3, 2\].*flatten/);
  });

  it('reports a layer that cannot be built on its input as E_CONFIG naming the layer', () => {
    try {
      buildModel([conv(2, { kernelSize: 5 }), conv(2, { kernelSize: 5 }), flatten, dense(2, 'linear')], [6, 6, 1], 1);
      expect.unreachable();
    } catch (e) {
      expect((e as KdqError).code).toBe('E_CONFIG');
      expect((e as Error).message).toMatch(/model\.layers\.1 \(conv2d\)/);
    }
  });

  const specs: LayerSpec[] = [
    conv(4),
    { type: 'depthwiseConv2d', kernelSize: 3, depthMultiplier: 1, strides: 1, padding: 'same', activation: 'linear', useBias: true },
    flatten,
    dense(16),
    dense(10, 'softmax'),
  ];

  it('gives bit-identical initial weights for the same seed, different ones for another seed', () => {
    const a = buildModel(specs, [8, 8, 1], 42);
    const b = buildModel(specs, [8, 8, 1], 42);
    const c = buildModel(specs, [8, 8, 1], 43);
    expect(sameBits(weightsOf(a), weightsOf(b))).toBe(true);
    const wa = weightsOf(a);
    const wc = weightsOf(c);
    // Every kernel differs with the seed; biases start at zero either way.
    [0, 2, 4, 6].forEach((k) => expect(Buffer.from(wa[k].buffer).equals(Buffer.from(wc[k].buffer))).toBe(false));
    [a, b, c].forEach((m) => m.dispose());
  });

  it('derives each layer seed from the layer index: editing one layer keeps the others', () => {
    const a = buildModel(specs, [8, 8, 1], 5);
    const edited = [...specs];
    edited[3] = dense(32);
    const b = buildModel(edited, [8, 8, 1], 5);
    const wa = weightsOf(a);
    const wb = weightsOf(b);
    expect(sameBits(wa.slice(0, 4), wb.slice(0, 4))).toBe(true); // conv and depthwise unchanged
    expect(wb[4].length).not.toBe(wa[4].length);
    [a, b].forEach((m) => m.dispose());
  });

  it('uses He initialisation after relu and Glorot otherwise', () => {
    // He normal (truncated): std sqrt(2 / fanIn); Glorot uniform: std sqrt(2 / (fanIn + fanOut)).
    const fanIn = 400;
    const std = (m: tf.LayersModel) => {
      const w = Array.from(m.getWeights()[0].dataSync());
      const mean = w.reduce((p, q) => p + q, 0) / w.length;
      return Math.sqrt(w.reduce((p, q) => p + (q - mean) ** 2, 0) / w.length);
    };
    const relu = buildModel([flatten, dense(400, 'relu')], [20, 20, 1], 9);
    const tanh = buildModel([flatten, dense(400, 'tanh')], [20, 20, 1], 9);
    // tf.js truncates the He normal at 2 std, which shrinks the std by about 12 %.
    expect(std(relu) / Math.sqrt(2 / fanIn)).toBeGreaterThan(0.8);
    expect(std(relu) / Math.sqrt(2 / fanIn)).toBeLessThan(1.0);
    expect(std(tanh) / Math.sqrt(2 / (fanIn + 400))).toBeGreaterThan(0.95);
    expect(std(tanh) / Math.sqrt(2 / (fanIn + 400))).toBeLessThan(1.05);
    [relu, tanh].forEach((m) => m.dispose());
  });

  it('kernelInitializer overrides the rule: each name draws with its own spread, glorotUniform as Keras', () => {
    const fanIn = 400;
    const weights = (init: Exclude<Initializer, 'auto'> | undefined) => {
      const m = buildModel([flatten, { ...dense(400, 'relu'), ...(init ? { kernelInitializer: init } : {}) }], [20, 20, 1], 9);
      const w = Array.from(m.getWeights()[0].dataSync());
      m.dispose();
      return w;
    };
    const std = (w: number[]) => Math.sqrt(w.reduce((p, q) => p + q * q, 0) / w.length);
    const glorot = Math.sqrt(2 / (fanIn + 400));
    const he = Math.sqrt(2 / fanIn);
    const g = weights('glorotUniform');
    // Uniform on [-limit, limit], limit = sqrt(6 / (fanIn + fanOut)).
    expect(g.reduce((m, v) => Math.max(m, Math.abs(v)), 0)).toBeLessThanOrEqual(Math.sqrt(6 / (fanIn + 400)));
    expect(std(g) / glorot).toBeGreaterThan(0.95);
    expect(std(g) / glorot).toBeLessThan(1.05);
    expect(std(weights('glorotNormal')) / glorot).toBeGreaterThan(0.8);
    expect(std(weights('heUniform')) / he).toBeGreaterThan(0.95);
    expect(std(weights('heUniform')) / he).toBeLessThan(1.05);
    // `auto` before relu is He normal: the same weights as asking for heNormal.
    expect(weights(undefined)).toEqual(weights('heNormal'));
    expect(weights('glorotUniform')).not.toEqual(weights('heNormal'));
  });
});

describe('SeededDropout', () => {
  const x = () => tf.ones([4, 250]);

  it('passes the input through untouched at inference', () => {
    const layer = new SeededDropout({ name: 'd', rate: 0.5, seed: 1 });
    const out = tf.tidy(() => Array.from((layer.apply(x(), { training: false }) as tf.Tensor).dataSync()));
    expect(out.every((v) => v === 1)).toBe(true);
  });

  it('drops about `rate` of the units, scales the rest by 1/(1-rate), and draws a new mask per step', () => {
    const layer = new SeededDropout({ name: 'd', rate: 0.25, seed: 1 });
    const first = tf.tidy(() => Array.from((layer.apply(x(), { training: true }) as tf.Tensor).dataSync()));
    const second = tf.tidy(() => Array.from((layer.apply(x(), { training: true }) as tf.Tensor).dataSync()));
    const zeros = first.filter((v) => v === 0).length / first.length;
    expect(zeros).toBeGreaterThan(0.2);
    expect(zeros).toBeLessThan(0.3);
    first.filter((v) => v !== 0).forEach((v) => expect(v).toBeCloseTo(1 / 0.75, 6));
    expect(second).not.toEqual(first);
  });

  it('repeats the same mask sequence for the same seed', () => {
    const seq = (seed: number) => {
      const layer = new SeededDropout({ name: 'd', rate: 0.5, seed });
      return [0, 1, 2].map(() => tf.tidy(() => Array.from((layer.apply(x(), { training: true }) as tf.Tensor).dataSync())));
    };
    expect(seq(3)).toEqual(seq(3));
    expect(seq(3)).not.toEqual(seq(4));
  });
});
