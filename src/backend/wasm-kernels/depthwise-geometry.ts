/**
 * The geometry both depthwise-convolution gradients need: tf.js' conv info for the input and
 * filter shapes, plus the channel multiplier and the top/left padding, in one place.
 */
import * as tf from '@tensorflow/tfjs';

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

export function depthwiseGeometry(
  inputShape: readonly number[],
  filterShape: readonly number[],
  attrs: DepthwiseGradAttrs,
): DepthwiseGeometry {
  const info = tf.backend_util.computeConv2DInfo(
    inputShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    attrs.dilations,
    attrs.pad,
    attrs.dimRoundingMode,
    true,
  );
  return { ...info, mult: info.outChannels / info.inChannels, top: info.padInfo.top, left: info.padInfo.left };
}
