/**
 * Sum over every axis but the last, the bias gradient of every layer that adds a bias outside kdq's
 * fused kernels (tf.js' fused convolution and matmul gradients, biasAdd, depthwise layers). The
 * stock wasm Sum transposes the tensor so that the reduced axes come last, then sums; this sums
 * the rows in place, four channels per SIMD lane group, blocks of rows shared out between the
 * threads (channel-sums.ts). For up to 256 rows the result is the stock kernel's bit for bit (a running sum
 * from 0 per channel); longer sums go in blocks of 256 rows, which rounds less. Other reductions go
 * to the stock kernel.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { KernelCall } from '../intra-op/index.ts';
import { heapOffset, simdKernels } from '../simd/index.ts';
import { blockSums } from './channel-sums.ts';
import { sizeOf } from './wasm-heap.ts';

interface SumAttrs {
  axis: number | number[];
  keepDims: boolean;
}

type Args = { inputs: { x: tf.TensorInfo }; backend: BackendWasm; attrs: SumAttrs };

export function simdSumConfig(original: tf.KernelConfig): tf.KernelConfig {
  const fallback = original.kernelFunc as unknown as (args: Args) => tf.TensorInfo;
  function sum(args: Args): tf.TensorInfo {
    const { inputs, backend, attrs } = args;
    const { x } = inputs;
    const rank = x.shape.length;
    const simd = simdKernels(backend);
    if (simd === null || x.dtype !== 'float32' || rank < 2) return fallback(args);
    const axes = [...tf.util.parseAxisParam(attrs.axis, x.shape)].sort((a, b) => a - b);
    const C = x.shape[rank - 1];
    if (axes.length !== rank - 1 || axes.some((a, i) => a !== i) || C % 4 !== 0) return fallback(args);
    const out = backend.makeOutput(attrs.keepDims ? [...x.shape.slice(0, -1).map(() => 1), C] : [C], 'float32');
    const at = heapOffset(backend, x);
    const partials = (r0: number, r1: number, [parts]: number[]): KernelCall => ['channel_partials', at + 4 * r0 * C, 0, r1 - r0, C, 0, parts!];
    blockSums(backend, simd, partials, [heapOffset(backend, out)], sizeOf(x.shape) / C, C);
    return out;
  }
  return { ...original, kernelFunc: sum as unknown as tf.KernelFunc };
}
