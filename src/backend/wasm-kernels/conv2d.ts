/**
 * Conv2D, FusedConv2D and Conv2DBackpropInput on kdq's SIMD matrix products (conv-gemm.ts). The
 * stock forward kernels call XNNPACK, which builds a convolution operator (packing the filter and
 * an indirection buffer) whenever the filter tensor is new: after every optimizer step, so on
 * every training step. The stock Conv2DBackpropInput is a scalar loop, ten times slower than the
 * forward pass on a 32-channel input. Each wraps the stock kernel, which still takes what kdq's
 * does not (dilations, NCHW, other activations, prelu weights).
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { simdKernels } from '../simd/index.ts';
import { conv2dForward, conv2dInputGrad, gemmConvSupported } from './conv-gemm.ts';
import { convGeometry } from './conv-geometry.ts';

interface ConvAttrs {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat?: 'NHWC' | 'NCHW';
  dilations?: [number, number] | number;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

interface FusedConvAttrs extends ConvAttrs {
  activation?: string;
}

type ForwardArgs = {
  inputs: { x: tf.TensorInfo; filter: tf.TensorInfo; bias?: tf.TensorInfo | null; preluActivationWeights?: tf.TensorInfo | null };
  backend: BackendWasm;
  attrs: FusedConvAttrs;
};

function convInfo(xShape: readonly number[], filterShape: readonly number[], a: ConvAttrs): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    a.strides,
    a.dilations ?? 1,
    a.pad,
    a.dimRoundingMode,
    false,
    tf.backend_util.convertConv2DDataFormat(a.dataFormat ?? 'NHWC'),
  );
}

/**
 * act(conv(x, filter) + bias) on the SIMD kernels, or undefined when they do not take this case
 * (the caller then runs the stock kernel). Shared with kdq's fused training kernel.
 */
export function simdConv2d(args: ForwardArgs): tf.TensorInfo | undefined {
  const { inputs, backend, attrs } = args;
  const { x, filter } = inputs;
  const bias = inputs.bias ?? null;
  const activation = attrs.activation ?? 'linear';
  const simd = simdKernels(backend);
  if (simd === null || x.dtype !== 'float32' || filter.dtype !== 'float32' || (inputs.preluActivationWeights ?? null) !== null) return undefined;
  if (activation !== 'linear' && activation !== 'relu') return undefined;
  const info = convInfo(x.shape, filter.shape, attrs);
  if (!gemmConvSupported(info)) return undefined;
  if (bias !== null && (bias.dtype !== 'float32' || bias.shape.length !== 1 || bias.shape[0] !== info.outChannels)) return undefined;
  return conv2dForward(backend, simd, x, filter, bias, convGeometry(info), activation === 'relu');
}

/** Conv2D and FusedConv2D: the SIMD path where it applies, else the stock kernel. */
export function simdConv2dConfig(original: tf.KernelConfig): tf.KernelConfig {
  const fallback = original.kernelFunc as unknown as (args: ForwardArgs) => tf.TensorInfo;
  const kernelFunc = (args: ForwardArgs) => simdConv2d(args) ?? fallback(args);
  return { ...original, kernelFunc: kernelFunc as unknown as tf.KernelFunc };
}

interface BackpropInputAttrs extends ConvAttrs {
  inputShape: [number, number, number, number];
}

type BackpropInputArgs = { inputs: { dy: tf.TensorInfo; filter: tf.TensorInfo }; backend: BackendWasm; attrs: BackpropInputAttrs };

/** Conv2DBackpropInput: the SIMD path where it applies, else the stock kernel. */
export function simdConv2dBackpropInputConfig(original: tf.KernelConfig): tf.KernelConfig {
  const fallback = original.kernelFunc as unknown as (args: BackpropInputArgs) => tf.TensorInfo;
  function backpropInput(args: BackpropInputArgs): tf.TensorInfo {
    const { inputs, backend, attrs } = args;
    const { dy, filter } = inputs;
    const simd = simdKernels(backend);
    if (simd === null || dy.dtype !== 'float32' || filter.dtype !== 'float32') return fallback(args);
    const info = convInfo(attrs.inputShape, filter.shape, attrs);
    if (!gemmConvSupported(info)) return fallback(args);
    return conv2dInputGrad(backend, simd, dy, filter, convGeometry(info), attrs.inputShape);
  }
  return { ...original, kernelFunc: backpropInput as unknown as tf.KernelFunc };
}
