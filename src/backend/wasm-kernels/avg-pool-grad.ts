/**
 * AvgPoolGrad for the wasm backend: each output gradient, times 1 / (window height x width),
 * added to every input its window covers, four channels per SIMD lane group. Like tf.js' cpu
 * kernel it divides by the whole window even where the padding clips it. The stock wasm kernel
 * is a scalar loop (about 9 ms for ResNet-8's final 8x8 pool at batch 32); it still takes
 * channels not in fours.
 */
import type * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { heapOffset, simdKernels } from '../simd/index.ts';
import { runDepthwise } from './depthwise-geometry.ts';
import { poolInfo, type PoolAttrs } from './pool-geometry.ts';
import { heapF32 } from './wasm-heap.ts';

type Args = { inputs: { dy: tf.TensorInfo; input: tf.TensorInfo }; backend: BackendWasm; attrs: PoolAttrs };

export function simdAvgPoolGradConfig(original: tf.KernelConfig): tf.KernelConfig {
  const fallback = original.kernelFunc as unknown as (args: Args) => tf.TensorInfo;
  function avgPoolGrad(args: Args): tf.TensorInfo {
    const { inputs, backend, attrs } = args;
    const { dy, input } = inputs;
    const simd = simdKernels(backend);
    const info = poolInfo(input.shape, attrs);
    if (simd === null || dy.dtype !== 'float32' || info.inChannels % 4 !== 0 || info.filterHeight > 255 || info.filterWidth > 255) return fallback(args);
    const dx = backend.makeOutput([...input.shape], 'float32');
    heapF32(backend, dx).fill(0);
    const scale = 1 / (info.filterHeight * info.filterWidth);
    runDepthwise(backend, simd, info, { input: heapOffset(backend, dx), f: 0, out: heapOffset(backend, dy), mode: 3, scale });
    return dx;
  }
  return { ...original, kernelFunc: avgPoolGrad as unknown as tf.KernelFunc };
}
