/**
 * DepthwiseConv2dNative and FusedDepthwiseConv2D on kdq's SIMD depthwise kernel (../simd/spatial.wat)
 * for a channel multiplier of 1. The stock kernels call XNNPACK, which packs the filter into a new
 * operator whenever the filter tensor is new, as it is after every optimizer step. Each wraps the
 * stock kernel, which still takes multipliers above 1, dilations, NCHW and other activations.
 */
import type * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { heapOffset, simdKernels } from '../simd/index.ts';
import { depthwiseGeometry, runDepthwise, simdDepthwiseSupported, type DepthwiseGradAttrs } from './depthwise-geometry.ts';

interface DepthwiseAttrs extends DepthwiseGradAttrs {
  dataFormat?: 'NHWC' | 'NCHW';
  activation?: string;
}

type Args = {
  inputs: { x: tf.TensorInfo; filter: tf.TensorInfo; bias?: tf.TensorInfo | null; preluActivationWeights?: tf.TensorInfo | null };
  backend: BackendWasm;
  attrs: DepthwiseAttrs;
};

function simdDepthwise(args: Args): tf.TensorInfo | undefined {
  const { inputs, backend, attrs } = args;
  const { x, filter } = inputs;
  const bias = inputs.bias ?? null;
  const activation = attrs.activation ?? 'linear';
  const simd = simdKernels(backend);
  if (simd === null || x.dtype !== 'float32' || filter.dtype !== 'float32' || (inputs.preluActivationWeights ?? null) !== null) return undefined;
  if ((attrs.dataFormat ?? 'NHWC') !== 'NHWC' || (activation !== 'linear' && activation !== 'relu')) return undefined;
  const g = depthwiseGeometry(x.shape, filter.shape, attrs);
  if (!simdDepthwiseSupported(g)) return undefined;
  if (bias !== null && (bias.dtype !== 'float32' || bias.shape.length !== 1 || bias.shape[0] !== g.outChannels)) return undefined;
  const y = backend.makeOutput([g.batchSize, g.outHeight, g.outWidth, g.outChannels], 'float32');
  const at = (t: tf.TensorInfo) => heapOffset(backend, t);
  runDepthwise(backend, simd, g, {
    input: at(x),
    f: at(filter),
    out: at(y),
    mode: 0,
    bias: bias === null ? 0 : at(bias),
    flags: (bias !== null ? 1 : 0) | (activation === 'relu' ? 2 : 0),
  });
  return y;
}

/** DepthwiseConv2dNative and FusedDepthwiseConv2D: the SIMD path where it applies, else the stock kernel. */
export function simdDepthwiseConv2dConfig(original: tf.KernelConfig): tf.KernelConfig {
  const fallback = original.kernelFunc as unknown as (args: Args) => tf.TensorInfo;
  const kernelFunc = (args: Args) => simdDepthwise(args) ?? fallback(args);
  return { ...original, kernelFunc: kernelFunc as unknown as tf.KernelFunc };
}
