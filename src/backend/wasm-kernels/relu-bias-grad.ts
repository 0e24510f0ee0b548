/**
 * KdqReluBiasGrad: the backward pass of y = relu(z + b) in one pass over the gradient, given the
 * layer's output y: dz = dy where y > 0 (relu'(0) = 0, as tf.js' step), and db = dz summed over
 * every axis but the last. Replaces tf.js' Step, Cast, Multiply and a transposing Sum per layer.
 */
import type * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { heapOffset, simdKernels } from '../simd/index.ts';
import { heapF32, sizeOf } from './wasm-heap.ts';

export const RELU_BIAS_GRAD = 'KdqReluBiasGrad';

function reluBiasGrad(args: { inputs: { dy: tf.TensorInfo; y: tf.TensorInfo }; backend: BackendWasm }): tf.TensorInfo[] {
  const { inputs, backend } = args;
  const { dy, y } = inputs;
  const channels = y.shape[y.shape.length - 1];
  const rows = sizeOf(y.shape) / channels;
  const dz = backend.makeOutput([...y.shape], 'float32');
  const db = backend.makeOutput([channels], 'float32');
  const simd = simdKernels(backend);
  if (simd !== null && channels % 4 === 0) {
    const at = (t: tf.TensorInfo) => heapOffset(backend, t);
    simd.relu_bias_grad(at(dy), at(y), at(dz), at(db), rows, channels);
    return [dz, db];
  }
  const dyv = heapF32(backend, dy);
  const yv = heapF32(backend, y);
  const dzv = heapF32(backend, dz);
  const dbv = heapF32(backend, db);
  dbv.fill(0);
  for (let r = 0, i = 0; r < rows; r++) {
    for (let c = 0; c < channels; c++, i++) {
      const d = yv[i] > 0 ? dyv[i] : 0;
      dzv[i] = d;
      dbv[c] += d;
    }
  }
  return [dz, db];
}

export const reluBiasGradConfig: tf.KernelConfig = {
  kernelName: RELU_BIAS_GRAD,
  backendName: 'wasm',
  kernelFunc: reluBiasGrad as unknown as tf.KernelFunc,
};
