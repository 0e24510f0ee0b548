/**
 * Choosing int8 scales and zero points (TFLite quantization spec: real = scale * (q - zeroPoint)).
 * Activations are asymmetric int8 in [-128, 127]; weights are symmetric int8 in [-127, 127] with
 * zero point 0, so that the kernels can skip the weight zero-point term.
 */

export interface AffineParams {
  scale: number;
  zeroPoint: number;
}

export const INT8_MIN = -128;
export const INT8_MAX = 127;
/** Weights never use -128, so that -w is representable (the spec's symmetric range). */
export const WEIGHT_MAX = 127;
const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

/** Rounds half away from zero, like std::round in TFLite's quantization code (Math.round rounds -0.5 up). */
export function roundHalfAway(v: number): number {
  return v < 0 ? -Math.round(-v) : Math.round(v);
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

/**
 * Asymmetric int8 parameters for a float range. The range is widened to include 0 so that zero
 * (padding, ReLU's floor) is exactly representable, as the spec requires.
 */
export function activationParams(min: number, max: number): AffineParams {
  const lo = Math.min(0, min);
  const hi = Math.max(0, max);
  if (!(hi > lo)) return { scale: 1, zeroPoint: 0 };
  const scale = (hi - lo) / (INT8_MAX - INT8_MIN);
  const zeroPoint = clamp(roundHalfAway(INT8_MIN - lo / scale), INT8_MIN, INT8_MAX);
  return { scale, zeroPoint };
}

/** Parameters of a tensor read as uint8 instead of int8: same scale, zero point moved by 128. */
export function toUint8Params(p: AffineParams): AffineParams {
  return { scale: p.scale, zeroPoint: p.zeroPoint + 128 };
}

/** Quantizes floats to int8 with one scale/zero point. */
export function quantizeAffine(values: ArrayLike<number>, p: AffineParams): Int8Array {
  const out = new Int8Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = clamp(roundHalfAway(values[i] / p.scale) + p.zeroPoint, INT8_MIN, INT8_MAX);
  return out;
}

/** Where the channel axis of a weight tensor is: first (OHWI conv, [out, in] dense) or last (depthwise [1, kh, kw, C]). */
export type ChannelAxis = 'first' | 'last';

/** The channel of flat element i of a tensor with `size` elements and `channels` channels. */
export function channelOf(i: number, size: number, channels: number, axis: ChannelAxis): number {
  return axis === 'first' ? Math.floor(i / (size / channels)) : i % channels;
}

export interface SymmetricWeights {
  values: Int8Array;
  /** One scale per channel (or a single one when per tensor). */
  scales: number[];
}

/**
 * Symmetric int8 weights: scale = max|w| / 127 per channel (channels = 1: per tensor), q in
 * [-127, 127]. An all-zero channel gets scale 1, so it dequantizes to exact zeros without a
 * division by zero.
 */
export function quantizeSymmetric(weights: Float32Array, channels: number, axis: ChannelAxis): SymmetricWeights {
  const absMax = new Array<number>(channels).fill(0);
  for (let i = 0; i < weights.length; i++) {
    const c = channelOf(i, weights.length, channels, axis);
    absMax[c] = Math.max(absMax[c], Math.abs(weights[i]));
  }
  const scales = absMax.map((m) => (m > 0 ? m / WEIGHT_MAX : 1));
  const values = new Int8Array(weights.length);
  for (let i = 0; i < weights.length; i++) {
    const c = channelOf(i, weights.length, channels, axis);
    values[i] = clamp(roundHalfAway(weights[i] / scales[c]), -WEIGHT_MAX, WEIGHT_MAX);
  }
  return { values, scales };
}

/** Bias scales the int8 kernels assume: input scale times each weight scale. */
export function biasScales(inputScale: number, weightScales: number[]): number[] {
  // Math.fround: the file stores float32 scales, and the kernel rescales with those.
  return weightScales.map((s) => Math.fround(Math.fround(inputScale) * Math.fround(s)));
}

/** int32 bias with zero point 0, one scale per output channel (or one for all). */
export function quantizeBias(bias: Float32Array, scales: number[]): Int32Array {
  const out = new Int32Array(bias.length);
  for (let i = 0; i < bias.length; i++) {
    const s = scales.length === 1 ? scales[0] : scales[i];
    out[i] = clamp(roundHalfAway(bias[i] / s), INT32_MIN, INT32_MAX);
  }
  return out;
}
