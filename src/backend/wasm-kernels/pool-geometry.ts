/**
 * What the pooling kernels share: tf.js' pooling attributes and geometry, and the 2x2 windows at
 * stride 2 that kdq's SIMD max pooling takes both ways (max_pool_2x2, max_pool_grad_2x2).
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { intraOp, MIN_SPLIT_ELEMENTS, shareRange, type KernelCall } from '../intra-op/index.ts';
import { heapOffset, type SimdKernels } from '../simd/index.ts';

/** The attributes of tf.js' MaxPool, MaxPoolGrad and AvgPoolGrad. */
export interface PoolAttrs {
  filterSize: [number, number] | number;
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

/** The geometry of a pooling of an NHWC input of `shape` (dilation 1: tf.js' pooling gradients have no other). */
export function poolInfo(shape: readonly number[], attrs: PoolAttrs): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computePool2DInfo(shape as [number, number, number, number], attrs.filterSize, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode);
}

/** Whether kdq's 2x2 kernels compute `info`: 2x2 windows at stride 2, no padding, channels in fours. */
export function isPool2x2(info: tf.backend_util.Conv2DInfo): boolean {
  const square = info.filterHeight === 2 && info.filterWidth === 2 && info.strideHeight === 2 && info.strideWidth === 2;
  const unpadded = info.padInfo.top === 0 && info.padInfo.left === 0 && 2 * info.outHeight <= info.inHeight && 2 * info.outWidth <= info.inWidth;
  return square && unpadded && info.inChannels % 4 === 0;
}

/**
 * Runs a 2x2 pooling kernel over the batch of `info`, images shared out between the threads
 * (images are independent). `tensors` are its tensor arguments in order, each with whether it
 * has the pooling's input size, its output size or one byte per output value per image;
 * `alongside` as shareRange's. Returns the sum of what the calls returned.
 */
export function pool2x2Images(
  backend: BackendWasm,
  simd: SimdKernels,
  info: tf.backend_util.Conv2DInfo,
  kernel: 'max_pool_2x2' | 'max_pool_grad_2x2' | 'max_pool_2x2_arg' | 'unpool_relu_grad',
  tensors: readonly (readonly [tf.TensorInfo, 'in' | 'out' | 'arg'])[],
  alongside?: KernelCall,
): number {
  const { batchSize, inHeight, inWidth, inChannels: C, outHeight, outWidth } = info;
  // 'arg': max_pool_2x2_arg's routing bytes, one per output value
  const imageBytes = { in: 4 * inHeight * inWidth * C, out: 4 * outHeight * outWidth * C, arg: outHeight * outWidth * C };
  const at = tensors.map(([t, size]) => [heapOffset(backend, t), imageBytes[size]] as const);
  const part = (n0: number, n1: number): KernelCall => [kernel, ...at.map(([p, bytes]) => p + n0 * bytes), n1 - n0, inHeight, inWidth, C, outHeight, outWidth];
  const pool = batchSize * inHeight * inWidth * C >= MIN_SPLIT_ELEMENTS ? intraOp(backend) : null;
  return shareRange(pool, simd, batchSize, 1, part, alongside);
}
