/**
 * Conv2DBackpropFilter for the wasm backend, which does not register it (so no Conv2D can train).
 * dW[kh, kw, ci, co] = sum over (n, y, x) of x[n, y*sh - top + kh*dh, x*sw - left + kw*dw, ci] * dy[n, y, x, co],
 * i.e. dW = cols^T dy with cols the im2col matrix: on kdq's SIMD products of im2col blocks, or of
 * taps read in place for fewer than 4 input channels (conv-gemm.ts), for output channels in fours
 * at dilation 1; otherwise the transposed im2col
 * matrix colsT[K = kh*kw*ci, P = n*y*x] is written whole and XNNPACK does dW = colsT x dy[P, co].
 * (A kernel that skipped zero inputs, kept for MNIST's mostly-black first layer, measured no
 * faster than the product on MNIST itself: 1.07 against 0.995 ms for the teacher at batch 32.)
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { KdqError } from '../../errors.ts';
import { simdKernels } from '../simd/index.ts';
import { conv2dFilterGrad, filterGradSupported, gemmConvSupported } from './conv-gemm.ts';
import { convGeometry } from './conv-geometry.ts';
import { heapF32, matMul2d, release } from './wasm-heap.ts';

interface Conv2DBackpropFilterAttrs {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
}

/**
 * Fills colsT[k, p] (k = (kh*fw + kw)*cin + ci, p = (n*oh + y)*ow + x) with the input pixel each
 * filter tap sees, 0 in the padding.
 */
export function im2colTransposed(x: Float32Array, cols: Float32Array, info: tf.backend_util.Conv2DInfo): void {
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, filterHeight, filterWidth } = info;
  const { strideHeight, strideWidth, dilationHeight, dilationWidth } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const P = batchSize * outHeight * outWidth;
  for (let kh = 0; kh < filterHeight; kh++) {
    for (let kw = 0; kw < filterWidth; kw++) {
      for (let ci = 0; ci < inChannels; ci++) {
        let o = ((kh * filterWidth + kw) * inChannels + ci) * P;
        for (let n = 0; n < batchSize; n++) {
          for (let y = 0; y < outHeight; y++) {
            const iy = y * strideHeight - top + kh * dilationHeight;
            if (iy < 0 || iy >= inHeight) {
              cols.fill(0, o, o + outWidth);
              o += outWidth;
              continue;
            }
            const rowBase = (n * inHeight + iy) * inWidth;
            for (let xo = 0; xo < outWidth; xo++) {
              const ix = xo * strideWidth - left + kw * dilationWidth;
              cols[o++] = ix < 0 || ix >= inWidth ? 0 : x[(rowBase + ix) * inChannels + ci];
            }
          }
        }
      }
    }
  }
}

function conv2dBackpropFilter(args: {
  inputs: { x: tf.TensorInfo; dy: tf.TensorInfo };
  backend: BackendWasm;
  attrs: Conv2DBackpropFilterAttrs;
}): tf.TensorInfo {
  const { inputs, backend, attrs } = args;
  const x = inputs.x;
  const dy = inputs.dy;
  if (attrs.dataFormat !== undefined && attrs.dataFormat !== 'NHWC') {
    throw new KdqError(
      'E_INTERNAL',
      `Conv2DBackpropFilter on wasm supports dataFormat 'NHWC' only, got '${attrs.dataFormat}'; build conv layers with dataFormat 'channelsLast'`,
    );
  }
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    attrs.filterShape,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
  // kdq's SIMD product of im2col blocks (conv-gemm.ts); the whole im2col matrix and XNNPACK for
  // dilated filters and output channels not in fours.
  const simd = simdKernels(backend);
  if (simd !== null && filterGradSupported(info.outChannels) && gemmConvSupported(info)) {
    return conv2dFilterGrad(backend, simd, x, dy, convGeometry(info));
  }
  const K = info.filterHeight * info.filterWidth * info.inChannels;
  const P = info.batchSize * info.outHeight * info.outWidth;
  const cols = backend.makeOutput([K, P], 'float32');
  im2colTransposed(heapF32(backend, x), heapF32(backend, cols), info);
  // dy is [n, oh, ow, co] in memory, i.e. already the [P, co] right-hand side.
  const dw = matMul2d(backend, cols, dy, K, P, info.outChannels);
  release(backend, cols);
  return { dataId: dw.dataId, shape: [...attrs.filterShape], dtype: 'float32' };
}

export const conv2dBackpropFilterConfig: tf.KernelConfig = {
  kernelName: 'Conv2DBackpropFilter',
  backendName: 'wasm',
  kernelFunc: conv2dBackpropFilter as unknown as tf.KernelFunc,
};
