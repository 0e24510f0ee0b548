/**
 * Every layer type kdq accepts trains on wasm with a custom training step (loss goes down), and the
 * same seeded training is bit-identical run to run.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.ts';
import { LAYER_TYPES, type LayerType, type MergeLayerType } from '../../src/names.ts';
import { values } from './compare-backends.ts';
import { selectShapes } from '../../bench/shapes.ts';
import { prepareShape } from '../../bench/shape-throughput.ts';

const init = (seed: number) => tf.initializers.glorotUniform({ seed });

/** A small model around each one-input layer type; the Record types force one entry per LAYER_TYPES name. */
const MODELS: Record<Exclude<LayerType, MergeLayerType>, () => tf.layers.Layer[]> = {
  conv2d: () => [
    tf.layers.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', kernelInitializer: init(1) }),
    // A second conv needs the gradient with respect to its input too.
    tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'valid', activation: 'relu', kernelInitializer: init(2) }),
    tf.layers.flatten(),
  ],
  depthwiseConv2d: () => [
    tf.layers.conv2d({ filters: 3, kernelSize: 3, activation: 'relu', kernelInitializer: init(3) }),
    tf.layers.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, strides: 2, padding: 'same', depthwiseInitializer: init(4) }),
    tf.layers.flatten(),
  ],
  maxPooling2d: () => [
    tf.layers.conv2d({ filters: 4, kernelSize: 3, kernelInitializer: init(5) }),
    tf.layers.maxPooling2d({ poolSize: 2 }),
    tf.layers.flatten(),
  ],
  averagePooling2d: () => [
    tf.layers.conv2d({ filters: 4, kernelSize: 3, kernelInitializer: init(6) }),
    tf.layers.averagePooling2d({ poolSize: 2, strides: 1, padding: 'same' }),
    tf.layers.flatten(),
  ],
  globalAveragePooling2d: () => [
    tf.layers.conv2d({ filters: 8, kernelSize: 3, activation: 'relu', kernelInitializer: init(7) }),
    tf.layers.globalAveragePooling2d({}),
  ],
  flatten: () => [tf.layers.flatten()],
  dense: () => [tf.layers.flatten(), tf.layers.dense({ units: 16, activation: 'tanh', kernelInitializer: init(8) })],
  dropout: () => [
    tf.layers.flatten(),
    tf.layers.dense({ units: 16, activation: 'relu', kernelInitializer: init(9) }),
    tf.layers.dropout({ rate: 0.3, seed: 5 }),
  ],
  batchNormalization: () => [
    tf.layers.conv2d({ filters: 4, kernelSize: 3, kernelInitializer: init(10) }),
    tf.layers.batchNormalization({}),
    tf.layers.flatten(),
  ],
  activation: () => [
    tf.layers.flatten(),
    tf.layers.dense({ units: 16, kernelInitializer: init(11) }),
    tf.layers.activation({ activation: 'relu6' }),
    tf.layers.dense({ units: 16, kernelInitializer: init(12) }),
    tf.layers.activation({ activation: 'sigmoid' }),
  ],
};

/** A branch on the input joined with another: the merge layers need a graph. */
const BRANCHES: Record<MergeLayerType, (x: tf.SymbolicTensor) => tf.SymbolicTensor> = {
  add: (x) => {
    const a = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(13) }).apply(x) as tf.SymbolicTensor;
    const b = tf.layers.conv2d({ filters: 4, kernelSize: 1, kernelInitializer: init(14) }).apply(x) as tf.SymbolicTensor;
    return tf.layers.flatten().apply(tf.layers.add().apply([a, b])) as tf.SymbolicTensor;
  },
  concatenate: (x) => {
    const a = tf.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(15) }).apply(x) as tf.SymbolicTensor;
    return tf.layers.flatten().apply(tf.layers.concatenate({ axis: -1 }).apply([a, x])) as tf.SymbolicTensor;
  },
};

function build(type: LayerType): tf.LayersModel {
  if (type === 'add' || type === 'concatenate') {
    const x = tf.input({ shape: [10, 10, 2] });
    const out = tf.layers.dense({ units: 3, kernelInitializer: init(99) }).apply(BRANCHES[type](x)) as tf.SymbolicTensor;
    return tf.model({ inputs: x, outputs: out });
  }
  const model = tf.sequential();
  model.add(tf.layers.inputLayer({ inputShape: [10, 10, 2] }));
  for (const layer of MODELS[type]()) model.add(layer);
  model.add(tf.layers.dense({ units: 3, kernelInitializer: init(99) }));
  return model;
}

/** 24 images of 3 classes that differ in brightness and side, so every model can learn them. */
function data(): { xs: tf.Tensor4D; ys: tf.Tensor2D } {
  const n = 24;
  const px = values(n * 200, 21, true);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = i % 3;
    for (let j = 0; j < 200; j++) {
      const col = (j >> 1) % 10;
      px[i * 200 + j] = px[i * 200 + j] * 0.5 + (labels[i] === 1 && col < 5 ? 1 : 0) + (labels[i] === 2 && col >= 5 ? 1 : 0);
    }
  }
  return { xs: tf.tensor4d(px, [n, 10, 10, 2]), ys: tf.tidy(() => tf.oneHot(tf.tensor1d(labels, 'int32'), 3).toFloat() as tf.Tensor2D) };
}

/** Trains with `optimizer.minimize` on softmax cross-entropy; returns the first and last losses and the weights. */
function train(type: LayerType, steps: number): { first: number; last: number; weights: Float32Array[] } {
  const model = build(type);
  const optimizer = tf.train.adam(0.01);
  const { xs, ys } = data();
  const losses: number[] = [];
  for (let i = 0; i < steps; i++) {
    const loss = optimizer.minimize(() => tf.losses.softmaxCrossEntropy(ys, model.apply(xs, { training: true }) as tf.Tensor) as tf.Scalar, true)!;
    losses.push(loss.dataSync()[0]);
    loss.dispose();
  }
  const weights = model.getWeights().map((w) => w.dataSync() as Float32Array);
  tf.dispose([xs, ys]);
  model.dispose();
  optimizer.dispose();
  return { first: losses[0], last: losses[losses.length - 1], weights };
}

beforeAll(async () => {
  await initBackend('wasm');
});

describe('every layer type trains on wasm', () => {
  for (const type of LAYER_TYPES) {
    it(type, () => {
      const before = tf.memory().numTensors;
      const { first, last } = train(type, 25);
      expect(Number.isFinite(last)).toBe(true);
      expect(last).toBeLessThan(first * 0.8);
      expect(tf.memory().numTensors).toBe(before);
    });
  }
});

describe('determinism', () => {
  it("kdq-built ResNet-8 and DS-CNN (kdq's batch norm, relu, convolution and depthwise kernels) train bit-identically twice on wasm", async () => {
    for (const name of ['resnet8', 'dscnn']) {
      const [shape] = selectShapes([name]);
      const run = async () => {
        const p = await prepareShape(shape!, 4);
        const initial = p.model.getWeights()[0]!.dataSync().slice();
        for (let i = 0; i < 3; i++) p.step(i);
        expect(Buffer.from(p.model.getWeights()[0]!.dataSync().buffer).equals(Buffer.from(initial.buffer)), 'trained').toBe(false);
        const weights = p.model.getWeights().map((w) => w.dataSync().slice() as Float32Array);
        p.dispose();
        return weights;
      };
      const a = await run();
      const b = await run();
      expect(a.length).toBeGreaterThan(0);
      for (let i = 0; i < a.length; i++) expect(Buffer.from(b[i]!.buffer).equals(Buffer.from(a[i]!.buffer)), `${name} weight ${i}`).toBe(true);
    }
  });

  it('the same seeded training on wasm is bit-identical twice', () => {
    for (const type of ['conv2d', 'depthwiseConv2d', 'dropout'] as const) {
      const a = train(type, 8);
      const b = train(type, 8);
      expect(a.weights.length).toBeGreaterThan(0);
      for (let i = 0; i < a.weights.length; i++) {
        expect(Buffer.from(b.weights[i].buffer).equals(Buffer.from(a.weights[i].buffer)), `${type} weight ${i}`).toBe(true);
      }
    }
  });
});
