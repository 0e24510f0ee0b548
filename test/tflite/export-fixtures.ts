/**
 * Small tf.js models and a synthetic image task for the export tests: seeded initializers, a few
 * training steps on the `cpu` backend, so predictions are confident enough that int8 rounding
 * does not flip the top-1 class by chance.
 */
import * as tf from '@tensorflow/tfjs';
import { createRng } from '../../src/util/random.ts';

export const SIDE = 12;
export const CLASSES = 10;

/**
 * n NHWC images [SIDE, SIDE, 1] in [0, 1]: class k is a bright 3x3 patch at its own place on
 * a noisy background.
 */
export function syntheticImages(n: number, seed: number): { x: Float32Array; labels: number[] } {
  const rng = createRng(seed);
  const x = new Float32Array(n * SIDE * SIDE);
  const labels: number[] = [];
  for (let i = 0; i < n; i++) {
    const k = i % CLASSES;
    labels.push(k);
    const r0 = Math.floor(k / 4) * 4;
    const c0 = (k % 4) * 3;
    for (let r = 0; r < SIDE; r++) {
      for (let c = 0; c < SIDE; c++) {
        const inPatch = r >= r0 && r < r0 + 3 && c >= c0 && c < c0 + 3;
        x[i * SIDE * SIDE + r * SIDE + c] = inPatch ? 0.6 + 0.4 * rng() : 0.3 * rng();
      }
    }
  }
  return { x, labels };
}

const init = (seed: number) => tf.initializers.glorotUniform({ seed });

/** conv2d 8 relu > maxPooling2d > flatten > dense 32 relu > dense 10 (logits). */
export function flatModel(): tf.Sequential {
  return tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [SIDE, SIDE, 1], filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(1) }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 32, activation: 'relu', kernelInitializer: init(2) }),
      tf.layers.dense({ units: CLASSES, kernelInitializer: init(3) }),
    ],
  });
}

/**
 * Every other exportable layer: conv (no bias) > batch norm > relu6 layer (folded, fused),
 * depthwise x8 relu (1152 weights: hybrid in dynamic-range), maxPool, standalone relu,
 * 1x1 conv tanh (1024 weights), averagePool, sigmoid, globalAveragePooling2d, dropout, dense.
 */
export function wideModel(): tf.Sequential {
  return tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [SIDE, SIDE, 1], filters: 16, kernelSize: 3, padding: 'same', useBias: false, kernelInitializer: init(11) }),
      tf.layers.batchNormalization({
        momentum: 0.5,
        movingMeanInitializer: tf.initializers.randomUniform({ minval: -0.2, maxval: 0.2, seed: 12 }),
        movingVarianceInitializer: tf.initializers.randomUniform({ minval: 0.5, maxval: 2, seed: 13 }),
        gammaInitializer: tf.initializers.randomUniform({ minval: 0.5, maxval: 1.5, seed: 14 }),
      }),
      tf.layers.activation({ activation: 'relu6' }),
      tf.layers.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 8, padding: 'same', activation: 'relu', depthwiseInitializer: init(15) }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.activation({ activation: 'relu' }),
      tf.layers.conv2d({ filters: 8, kernelSize: 1, activation: 'tanh', kernelInitializer: init(16) }),
      tf.layers.averagePooling2d({ poolSize: 2 }),
      tf.layers.activation({ activation: 'sigmoid' }),
      tf.layers.globalAveragePooling2d({}),
      tf.layers.dropout({ rate: 0.1 }),
      tf.layers.dense({ units: CLASSES, kernelInitializer: init(17) }),
    ],
  });
}

/**
 * Makes the model a confident classifier of the synthetic task cheaply: the layers before the
 * last dense keep their seeded random weights (random conv features separate patch positions),
 * and the last dense is fitted by softmax regression on those features in plain JS (full-batch
 * gradient descent). Training the whole network with tf.js takes minutes on a shared CPU.
 */
export function fitHead(model: tf.LayersModel, x: Float32Array, labels: number[], steps = 300): void {
  const n = labels.length;
  const head = model.outputs[0].sourceLayer as tf.layers.Layer;
  const features = tf.tidy(() => {
    const body = tf.model({ inputs: model.inputs, outputs: head.inboundNodes[0].inputTensors[0] });
    return body.predict(tf.tensor4d(x, [n, SIDE, SIDE, 1])) as tf.Tensor2D;
  });
  const f = features.dataSync() as Float32Array;
  const dim = features.shape[1];
  features.dispose();
  // Standardize features so one learning rate suits every model; fold it back into W and b.
  const mean = new Float64Array(dim);
  const std = new Float64Array(dim);
  for (let i = 0; i < n; i++) for (let j = 0; j < dim; j++) mean[j] += f[i * dim + j] / n;
  for (let i = 0; i < n; i++) for (let j = 0; j < dim; j++) std[j] += (f[i * dim + j] - mean[j]) ** 2 / n;
  for (let j = 0; j < dim; j++) std[j] = Math.sqrt(std[j]) + 1e-6;
  const w = new Float64Array(dim * CLASSES);
  const b = new Float64Array(CLASSES);
  const z = new Float64Array(CLASSES);
  const lr = 0.5;
  for (let step = 0; step < steps; step++) {
    const gw = new Float64Array(dim * CLASSES);
    const gb = new Float64Array(CLASSES);
    for (let i = 0; i < n; i++) {
      let max = -Infinity;
      for (let k = 0; k < CLASSES; k++) {
        let v = b[k];
        for (let j = 0; j < dim; j++) v += ((f[i * dim + j] - mean[j]) / std[j]) * w[j * CLASSES + k];
        z[k] = v;
        max = Math.max(max, v);
      }
      let sum = 0;
      for (let k = 0; k < CLASSES; k++) sum += z[k] = Math.exp(z[k] - max);
      for (let k = 0; k < CLASSES; k++) {
        const g = z[k] / sum - (k === labels[i] ? 1 : 0);
        gb[k] += g / n;
        for (let j = 0; j < dim; j++) gw[j * CLASSES + k] += (g * (f[i * dim + j] - mean[j])) / std[j] / n;
      }
    }
    for (let k = 0; k < w.length; k++) w[k] -= lr * gw[k];
    for (let k = 0; k < CLASSES; k++) b[k] -= lr * gb[k];
  }
  const kernel = new Float32Array(dim * CLASSES);
  const bias = new Float32Array(CLASSES);
  for (let k = 0; k < CLASSES; k++) {
    bias[k] = b[k];
    for (let j = 0; j < dim; j++) {
      kernel[j * CLASSES + k] = w[j * CLASSES + k] / std[j];
      bias[k] -= (w[j * CLASSES + k] * mean[j]) / std[j];
    }
  }
  head.setWeights([tf.tensor2d(kernel, [dim, CLASSES]), tf.tensor1d(bias)]);
}

/** Softmax probabilities of the tf.js model, one row per image. */
export function predictProbs(model: tf.LayersModel, x: Float32Array, n: number): number[][] {
  return tf.tidy(() => tf.softmax(model.predict(tf.tensor4d(x, [n, SIDE, SIDE, 1])) as tf.Tensor).arraySync() as number[][]);
}

export function argmax(v: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
  return best;
}
