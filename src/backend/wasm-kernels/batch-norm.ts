/**
 * Batch normalization while training, as two kernels for the wasm backend. tf.js' layer computes
 * the batch statistics with tf.moments (Mean, Sub, Square, Mean), normalizes with FusedBatchNorm,
 * and its gradient runs about thirty small kernels per layer (Tile, Sum, Multiply, Rsqrt... over
 * the whole activation): a third of a ResNet-8 step. Here, with M = rows of the batch (n h w) and
 * per channel c:
 *   forward   mean = sum x / M,  var = sum (x - mean)^2 / M,  s = gamma / sqrt(var + eps),
 *             y = (x - mean) s + beta
 *   backward  dbeta = sum dy,  dgamma = sum dy (x - mean) / sqrt(var + eps),
 *             dx = s (dy - dbeta / M - (x - mean) sum(dy (x - mean)) / ((var + eps) M))
 * which is the gradient tf.js computes through both the normalization and the statistics. The
 * forward kernel also returns the layer's new moving statistics, computed as tf.js' layer does in
 * float32 (v - (v - batch value) (1 - momentum)), which saves the six small kernels per layer
 * and step that update them. The mean and variance outputs feed only those, so their own
 * gradients are taken as 0. SIMD (../simd/norm.wat) for channels in fours, float64 JavaScript
 * loops otherwise.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { intraOp, MIN_SPLIT_ELEMENTS, shareRange, type KernelCall } from '../intra-op/index.ts';
import { blockSums } from './channel-sums.ts';
import { heapOffset, simdKernels, type SimdKernels } from '../simd/index.ts';
import { heapF32, release, sizeOf } from './wasm-heap.ts';

export const BATCH_NORM_TRAIN = 'KdqBatchNormTrain';
export const BATCH_NORM_TRAIN_GRAD = 'KdqBatchNormTrainGrad';

export interface BatchNormTrainAttrs {
  epsilon: number;
  /** The moving statistics' momentum (tf.js' layer: 0.99 by default). */
  momentum: number;
}

type ForwardArgs = {
  inputs: { x: tf.TensorInfo; gamma: tf.TensorInfo; beta: tf.TensorInfo; movingMean: tf.TensorInfo; movingVariance: tf.TensorInfo };
  backend: BackendWasm;
  attrs: BatchNormTrainAttrs;
};
type GradArgs = {
  inputs: { dy: tf.TensorInfo; x: tf.TensorInfo; gamma: tf.TensorInfo; mean: tf.TensorInfo; variance: tf.TensorInfo };
  backend: BackendWasm;
  attrs: BatchNormTrainAttrs;
};

function channelsOf(x: tf.TensorInfo): { C: number; rows: number } {
  const C = x.shape[x.shape.length - 1];
  return { C, rows: sizeOf(x.shape) / C };
}

function batchNormTrain(args: ForwardArgs): tf.TensorInfo[] {
  const { inputs, backend, attrs } = args;
  const { x, gamma, beta, movingMean, movingVariance } = inputs;
  const { C, rows } = channelsOf(x);
  const y = backend.makeOutput([...x.shape], 'float32');
  const mean = backend.makeOutput([C], 'float32');
  const variance = backend.makeOutput([C], 'float32');
  const scratch = backend.makeOutput([C], 'float32');
  const simd = simdKernels(backend);
  const at = (t: tf.TensorInfo) => heapOffset(backend, t);
  if (simd !== null && C % 4 === 0) {
    // as tf.moments: the mean, then the mean of (x - mean)^2 in a second pass
    const sums = (mode: number, out: number) => {
      const partials = (r0: number, r1: number, [parts]: number[]): KernelCall => ['channel_partials', at(x) + 4 * r0 * C, at(mean), r1 - r0, C, mode, parts!];
      blockSums(backend, simd, partials, [out], rows, C, rows);
    };
    sums(0, at(mean));
    sums(1, at(variance));
  } else {
    moments(heapF32(backend, x), rows, C, heapF32(backend, mean), heapF32(backend, variance));
  }
  const g = heapF32(backend, gamma);
  const v = heapF32(backend, variance);
  const scale = heapF32(backend, scratch).subarray(0, C);
  for (let c = 0; c < C; c++) scale[c] = g[c] / Math.sqrt(v[c] + attrs.epsilon);
  if (simd !== null && C % 4 === 0) {
    applyRows(backend, simd, [at(x), 0, at(y)], rows, C, [0, at(mean), at(scratch), at(beta), 0]);
  } else {
    const xv = heapF32(backend, x);
    const yv = heapF32(backend, y);
    const m = heapF32(backend, mean);
    const b = heapF32(backend, beta);
    const s = heapF32(backend, scratch);
    for (let i = 0, c = 0; i < xv.length; i++, c = c + 1 === C ? 0 : c + 1) yv[i] = (xv[i] - m[c]) * s[c] + b[c];
  }
  release(backend, scratch);
  return [y, mean, variance, movingAverage(backend, movingMean, mean, attrs.momentum), movingAverage(backend, movingVariance, variance, attrs.momentum)];
}

/**
 * bn_apply over `rows` rows of C channels ([x, x2, out] row pointers; x2 0 when unused), each row
 * on its own: with a helper thread, the threads share out ranges of rows.
 */
function applyRows(backend: BackendWasm, simd: SimdKernels, [x, x2, out]: number[], rows: number, C: number, rest: number[]): void {
  const pool = rows * C >= MIN_SPLIT_ELEMENTS ? intraOp(backend) : null;
  const part = (r0: number, r1: number): KernelCall => {
    const o = 4 * r0 * C;
    return ['bn_apply', x + o, x2 === 0 ? 0 : x2 + o, out + o, r1 - r0, C, ...rest];
  };
  shareRange(pool, simd, rows, 1, part);
}

/** v - (v - value) (1 - momentum), each operation rounded to float32 as tf.js' layer computes it with tensors. */
function movingAverage(backend: BackendWasm, moving: tf.TensorInfo, value: tf.TensorInfo, momentum: number): tf.TensorInfo {
  const out = backend.makeOutput([...moving.shape], 'float32');
  const v = heapF32(backend, moving);
  const b = heapF32(backend, value);
  const o = heapF32(backend, out);
  const decay = Math.fround(1 - momentum);
  for (let c = 0; c < o.length; c++) o[c] = v[c] - Math.fround(Math.fround(v[c] - b[c]) * decay);
  return out;
}

/** mean and biased variance per channel, float64 sums (the fallback for channels not in fours). */
function moments(x: Float32Array, rows: number, C: number, mean: Float32Array, variance: Float32Array): void {
  const s = new Float64Array(C);
  for (let i = 0, c = 0; i < x.length; i++, c = c + 1 === C ? 0 : c + 1) s[c] += x[i];
  for (let c = 0; c < C; c++) mean[c] = s[c] / rows;
  s.fill(0);
  for (let i = 0, c = 0; i < x.length; i++, c = c + 1 === C ? 0 : c + 1) s[c] += (x[i] - mean[c]) ** 2;
  for (let c = 0; c < C; c++) variance[c] = s[c] / rows;
}

function batchNormTrainGrad(args: GradArgs): tf.TensorInfo[] {
  const { inputs, backend, attrs } = args;
  const { dy, x, gamma, mean, variance } = inputs;
  const { C, rows } = channelsOf(x);
  const dx = backend.makeOutput([...x.shape], 'float32');
  const dgamma = backend.makeOutput([C], 'float32');
  const dbeta = backend.makeOutput([C], 'float32');
  // scale, k1, k2 of bn_apply's backward mode, then the per-channel sum dy (x - mean)
  const scratch = backend.makeOutput([4 * C], 'float32');
  const simd = simdKernels(backend);
  const vec = simd !== null && C % 4 === 0;
  const at = (t: tf.TensorInfo) => heapOffset(backend, t);
  const sumDyXmAt = at(scratch) + 12 * C;
  if (vec) {
    const partials = (r0: number, r1: number, [partsDy, partsDyXm]: number[]): KernelCall => [
      'grad_partials',
      at(dy) + 4 * r0 * C,
      at(x) + 4 * r0 * C,
      at(mean),
      r1 - r0,
      C,
      partsDy!,
      partsDyXm!,
    ];
    blockSums(backend, simd, partials, [at(dbeta), sumDyXmAt], rows, C);
  } else {
    gradSums(heapF32(backend, dy), heapF32(backend, x), heapF32(backend, mean), C, heapF32(backend, dbeta), heapF32(backend, scratch).subarray(3 * C, 4 * C));
  }
  const s = heapF32(backend, scratch);
  const g = heapF32(backend, gamma);
  const v = heapF32(backend, variance);
  const sumDy = heapF32(backend, dbeta);
  const dg = heapF32(backend, dgamma);
  for (let c = 0; c < C; c++) {
    const invStd = 1 / Math.sqrt(v[c] + attrs.epsilon);
    const scale = g[c] * invStd;
    const sumDyXm = s[3 * C + c];
    dg[c] = sumDyXm * invStd;
    s[c] = scale;
    s[C + c] = (-scale * sumDy[c]) / rows;
    s[2 * C + c] = (-scale * invStd * invStd * sumDyXm) / rows;
  }
  if (vec) {
    applyRows(backend, simd, [at(x), at(dy), at(dx)], rows, C, [1, at(mean), at(scratch), at(scratch) + 4 * C, at(scratch) + 8 * C]);
  } else {
    const xv = heapF32(backend, x);
    const dyv = heapF32(backend, dy);
    const dxv = heapF32(backend, dx);
    const m = heapF32(backend, mean);
    for (let i = 0, c = 0; i < xv.length; i++, c = c + 1 === C ? 0 : c + 1) dxv[i] = dyv[i] * s[c] + (xv[i] - m[c]) * s[2 * C + c] + s[C + c];
  }
  release(backend, scratch);
  return [dx, dgamma, dbeta];
}

function gradSums(dy: Float32Array, x: Float32Array, mean: Float32Array, C: number, sumDy: Float32Array, sumDyXm: Float32Array): void {
  const a = new Float64Array(C);
  const b = new Float64Array(C);
  for (let i = 0, c = 0; i < x.length; i++, c = c + 1 === C ? 0 : c + 1) {
    a[c] += dy[i];
    b[c] += dy[i] * (x[i] - mean[c]);
  }
  sumDy.set(a);
  sumDyXm.set(b);
}

export const batchNormTrainConfig: tf.KernelConfig = {
  kernelName: BATCH_NORM_TRAIN,
  backendName: 'wasm',
  kernelFunc: batchNormTrain as unknown as tf.KernelFunc,
};

export const batchNormTrainGradKernelConfig: tf.KernelConfig = {
  kernelName: BATCH_NORM_TRAIN_GRAD,
  backendName: 'wasm',
  kernelFunc: batchNormTrainGrad as unknown as tf.KernelFunc,
};

export const batchNormTrainGradConfig: tf.GradConfig = {
  kernelName: BATCH_NORM_TRAIN,
  inputsToSave: ['x', 'gamma'],
  outputsToSave: [false, true, true, false, false],
  gradFunc: (dys, saved, attrs) => {
    const [x, gamma, mean, variance] = saved;
    const dy = Array.isArray(dys) ? dys[0] : dys;
    const [dx, dgamma, dbeta] = tf.engine().runKernel(BATCH_NORM_TRAIN_GRAD, { dy, x, gamma, mean, variance }, attrs) as tf.Tensor[];
    return { x: () => dx, gamma: () => dgamma, beta: () => dbeta };
  },
};

export interface BatchNormTrainResult {
  y: tf.Tensor;
  /** The batch's statistics. */
  mean: tf.Tensor1D;
  variance: tf.Tensor1D;
  /** The moving statistics after this batch. */
  movingMean: tf.Tensor1D;
  movingVariance: tf.Tensor1D;
}

/** Batch normalization over every axis but the last, for training, and the moving statistics' update. */
export function batchNormTrainOp(
  x: tf.Tensor,
  params: { gamma: tf.Tensor1D; beta: tf.Tensor1D; movingMean: tf.Tensor1D; movingVariance: tf.Tensor1D },
  attrs: BatchNormTrainAttrs,
): BatchNormTrainResult {
  const [y, mean, variance, movingMean, movingVariance] = tf
    .engine()
    .runKernel(BATCH_NORM_TRAIN, { x, ...params }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
  return {
    y: y!,
    mean: mean as tf.Tensor1D,
    variance: variance as tf.Tensor1D,
    movingMean: movingMean as tf.Tensor1D,
    movingVariance: movingVariance as tf.Tensor1D,
  };
}

/** Whether the active backend has these kernels. */
export function batchNormTrainAvailable(): boolean {
  return tf.getKernel(BATCH_NORM_TRAIN, tf.getBackend()) !== undefined;
}
