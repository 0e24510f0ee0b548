/**
 * Folding an inference-mode batch normalization into the conv/dense layer before it:
 * y = gamma * (x - mean) / sqrt(var + eps) + beta, with x = W*in + b, equals W'*in + b' where
 * W'[c] = W[c] * k[c], b'[c] = (b[c] - mean[c]) * k[c] + beta[c], k = gamma / sqrt(var + eps).
 */
import { KdqError } from '../errors.ts';
import { channelOf, type ChannelAxis } from './params.ts';

export interface BatchNormParams {
  gamma: Float32Array;
  beta: Float32Array;
  mean: Float32Array;
  variance: Float32Array;
  epsilon: number;
}

/** Returns new weights and bias with the batch norm folded in (inputs are left untouched). */
export function foldBatchNorm(
  weights: Float32Array,
  bias: Float32Array,
  axis: ChannelAxis,
  bn: BatchNormParams,
): { weights: Float32Array; bias: Float32Array } {
  const channels = bias.length;
  if (bn.gamma.length !== channels || bn.mean.length !== channels || bn.variance.length !== channels || bn.beta.length !== channels) {
    throw new KdqError(
      'E_TFLITE',
      `cannot fold batchNormalization with ${bn.gamma.length} channels into a layer with ${channels} output channels; put it right after that layer`,
    );
  }
  const k = new Float32Array(channels);
  for (let c = 0; c < channels; c++) k[c] = bn.gamma[c] / Math.sqrt(bn.variance[c] + bn.epsilon);
  const w = new Float32Array(weights.length);
  for (let i = 0; i < weights.length; i++) w[i] = weights[i] * k[channelOf(i, weights.length, channels, axis)];
  const b = new Float32Array(channels);
  for (let c = 0; c < channels; c++) b[c] = (bias[c] - bn.mean[c]) * k[c] + bn.beta[c];
  return { weights: w, bias: b };
}
