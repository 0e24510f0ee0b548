/**
 * MaxPool on wasm for 2x2 windows at stride 2 without padding, channels in fours (the pooling of
 * every kdq network so far): one SIMD pass (max_pool_2x2), images shared out with a second
 * thread. Minimum of 200 calls, ms, stock against this on one thread: kd-mnist's teacher
 * [32, 26, 26, 32] 0.262 / 0.168, the 32x32x3 CNN's [32, 30, 30, 32] 0.346 / 0.212, soft labels'
 * batches of 256 3.58 / 2.49 (1.46 on two threads). A maximum is exact, so the values are the
 * stock kernel's (test/backend/simd.test.ts compares them); other pools go to the stock kernel.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { intraOp, MIN_SPLIT_ELEMENTS, shareRange, type KernelCall } from '../intra-op/index.ts';
import { heapOffset, simdKernels } from '../simd/index.ts';
import { sizeOf } from './wasm-heap.ts';

interface MaxPoolAttrs {
  filterSize: [number, number] | number;
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

type Args = { inputs: { x: tf.TensorInfo }; backend: BackendWasm; attrs: MaxPoolAttrs };

/** The 2x2 pool's output, or undefined when the stock kernel should run. */
function maxPool2x2(args: Args): tf.TensorInfo | undefined {
  const { inputs, backend, attrs } = args;
  const { x } = inputs;
  const simd = simdKernels(backend);
  if (simd === null || x.dtype !== 'float32' || x.shape.length !== 4) return undefined;
  const info = tf.backend_util.computePool2DInfo(
    x.shape as [number, number, number, number],
    attrs.filterSize,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
  const { batchSize, inHeight, inWidth, inChannels: C, outHeight, outWidth } = info;
  const square = info.filterHeight === 2 && info.filterWidth === 2 && info.strideHeight === 2 && info.strideWidth === 2;
  const unpadded = info.padInfo.top === 0 && info.padInfo.left === 0 && 2 * outHeight <= inHeight && 2 * outWidth <= inWidth;
  if (!square || !unpadded || C % 4 !== 0) return undefined;
  const y = backend.makeOutput([batchSize, outHeight, outWidth, C], 'float32');
  const at = (t: tf.TensorInfo) => heapOffset(backend, t);
  const inImage = 4 * inHeight * inWidth * C;
  const outImage = 4 * outHeight * outWidth * C;
  // Images are independent: with a second thread, the threads share them out.
  const part = (n0: number, n1: number): KernelCall => [
    'max_pool_2x2',
    at(x) + n0 * inImage,
    at(y) + n0 * outImage,
    n1 - n0,
    inHeight,
    inWidth,
    C,
    outHeight,
    outWidth,
  ];
  const pool = sizeOf(x.shape) >= MIN_SPLIT_ELEMENTS ? intraOp(backend) : null;
  shareRange(pool, simd, batchSize, 1, part);
  return y;
}

/** MaxPool: the SIMD path where it applies, else the stock kernel. */
export function simdMaxPoolConfig(original: tf.KernelConfig): tf.KernelConfig {
  const fallback = original.kernelFunc as unknown as (args: Args) => tf.TensorInfo;
  const kernelFunc = (args: Args) => maxPool2x2(args) ?? fallback(args);
  return { ...original, kernelFunc: kernelFunc as unknown as tf.KernelFunc };
}
