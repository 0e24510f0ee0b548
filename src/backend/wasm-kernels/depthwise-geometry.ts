/**
 * The geometry both depthwise-convolution gradients need: tf.js' conv info for the input and
 * filter shapes, plus the channel multiplier and the top/left padding, in one place.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { intraOp, MIN_SPLIT_MACS, shareRange, type KernelCall } from '../intra-op/index.ts';
import type { SimdKernels } from '../simd/index.ts';

/** Attributes the two depthwise backprop kernels share. */
export interface DepthwiseGradAttrs {
  strides: [number, number] | number;
  dilations: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

export interface DepthwiseGeometry extends tf.backend_util.Conv2DInfo {
  /** Output channels per input channel. */
  mult: number;
  top: number;
  left: number;
}

export function depthwiseGeometry(inputShape: readonly number[], filterShape: readonly number[], attrs: DepthwiseGradAttrs): DepthwiseGeometry {
  const info = tf.backend_util.computeConv2DInfo(
    inputShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad,
    attrs.dimRoundingMode,
    true,
  );
  return { ...info, mult: info.outChannels / info.inChannels, top: info.padInfo.top, left: info.padInfo.left };
}

/** Whether the SIMD depthwise kernel takes `g`: multiplier 1, dilation 1, channels in fours. */
export function simdDepthwiseSupported(g: DepthwiseGeometry): boolean {
  return g.mult === 1 && g.dilationHeight === 1 && g.dilationWidth === 1 && g.inChannels % 4 === 0 && g.filterHeight < 256 && g.filterWidth < 256;
}

/**
 * One pass of spatial.wat's `depthwise` over `g` (see its modes); pointers are heap offsets. `g` is
 * a depthwise convolution's geometry or a pooling window's (poolInfo): the same fields. In the
 * modes that write per image (forward, input gradient, average pooling's gradient), the threads
 * share out ranges of images by claims; each image is computed the same way on either thread. The
 * filter gradient sums over the images and stays on one thread: splitting it by channels instead
 * measured slower (DS-CNN's step at batch 32, median 60-70 ms against 41-57 with all modes on one
 * thread; each pixel's tap bookkeeping is the same for 16 channels as for 64).
 */
export function runDepthwise(
  backend: BackendWasm,
  simd: SimdKernels,
  g: tf.backend_util.Conv2DInfo,
  p: { input: number; f: number; out: number; mode: 0 | 1 | 2 | 3; bias?: number; flags?: number; scale?: number },
): void {
  const n = g.batchSize;
  const c = g.inChannels;
  const macs = n * g.outHeight * g.outWidth * g.filterHeight * g.filterWidth * c;
  const pool = p.mode !== 2 && n >= 2 && macs >= MIN_SPLIT_MACS ? intraOp(backend) : null;
  const window = [g.filterHeight, g.filterWidth, g.strideHeight, g.strideWidth, g.padInfo.top, g.padInfo.left];
  const inImage = 4 * g.inHeight * g.inWidth * c;
  const outImage = 4 * g.outHeight * g.outWidth * c;
  const part = (n0: number, n1: number): KernelCall => [
    'depthwise',
    p.input + n0 * inImage,
    p.f,
    p.bias ?? 0,
    p.out + n0 * outImage,
    p.mode,
    p.flags ?? 0,
    p.scale ?? 1,
    n1 - n0,
    g.inHeight,
    g.inWidth,
    c,
    c,
    g.outHeight,
    g.outWidth,
    ...window,
  ];
  shareRange(pool, simd, n, 1, part);
}
