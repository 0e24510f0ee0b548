/**
 * The geometry both depthwise-convolution gradients need: tf.js' conv info for the input and
 * filter shapes, plus the channel multiplier and the top/left padding, in one place.
 */
import * as tf from '@tensorflow/tfjs';
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

/** One pass of spatial.wat's `depthwise` over `g` (see its modes); pointers are heap offsets. */
export function runDepthwise(
  simd: SimdKernels,
  g: DepthwiseGeometry,
  p: { input: number; f: number; out: number; mode: 0 | 1 | 2 | 3; bias?: number; flags?: number; scale?: number },
): void {
  simd.depthwise(
    p.input,
    p.f,
    p.bias ?? 0,
    p.out,
    p.mode,
    p.flags ?? 0,
    p.scale ?? 1,
    g.batchSize,
    g.inHeight,
    g.inWidth,
    g.inChannels,
    g.outHeight,
    g.outWidth,
    g.filterHeight,
    g.filterWidth,
    g.strideHeight,
    g.strideWidth,
    g.top,
    g.left,
  );
}
