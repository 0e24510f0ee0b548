/**
 * KdqRelu: relu whose gradient is one pass on wasm. tf.js' Relu gradient is dy * cast(step(x)),
 * three kernels and two temporaries the size of the activation; KdqReluGrad masks dy by y > 0 in
 * one SIMD pass over dy and the saved output (relu'(0) = 0, as tf.js' step). The forward pass is
 * the backend's own Relu, so outputs are unchanged.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { intraOp, MIN_SPLIT_ELEMENTS, shareRange, type KernelCall } from '../intra-op/index.ts';
import { heapOffset, simdKernels } from '../simd/index.ts';
import { heapF32, sizeOf } from './wasm-heap.ts';

export const RELU = 'KdqRelu';
export const RELU_GRAD = 'KdqReluGrad';

type KernelArgs = Parameters<tf.KernelFunc>[0];

/** KdqRelu for `backendName`, delegating to its stock Relu; undefined when it has none. */
export function reluConfig(backendName: string): tf.KernelConfig | undefined {
  const stock = tf.getKernel('Relu', backendName);
  if (stock === undefined) return undefined;
  return { kernelName: RELU, backendName, kernelFunc: (args: KernelArgs) => stock.kernelFunc(args) };
}

function reluGrad(args: { inputs: { dy: tf.TensorInfo; y: tf.TensorInfo }; backend: BackendWasm }): tf.TensorInfo {
  const { inputs, backend } = args;
  const { dy, y } = inputs;
  const n = sizeOf(y.shape);
  const dx = backend.makeOutput([...y.shape], 'float32');
  const simd = simdKernels(backend);
  const head = simd === null ? 0 : n & ~3;
  if (simd !== null) {
    // Element-wise: with a helper thread, the threads share out ranges (from multiples of 4).
    const pool = head >= MIN_SPLIT_ELEMENTS ? intraOp(backend) : null;
    const ptrs = [heapOffset(backend, dy), heapOffset(backend, y), heapOffset(backend, dx)];
    const part = (from: number, to: number): KernelCall => ['relu_grad', ...ptrs.map((p) => p + 4 * from), to - from];
    shareRange(pool, simd, head, 4, part);
  }
  const dyv = heapF32(backend, dy);
  const yv = heapF32(backend, y);
  const dxv = heapF32(backend, dx);
  for (let i = head; i < n; i++) dxv[i] = yv[i] > 0 ? dyv[i] : 0;
  return dx;
}

export const reluGradKernelConfig: tf.KernelConfig = {
  kernelName: RELU_GRAD,
  backendName: 'wasm',
  kernelFunc: reluGrad as unknown as tf.KernelFunc,
};

export const reluGradConfig: tf.GradConfig = {
  kernelName: RELU,
  outputsToSave: [true],
  gradFunc: (dy, saved) => {
    const [y] = saved;
    return { x: () => tf.engine().runKernel(RELU_GRAD, { dy: dy as tf.Tensor, y }) as tf.Tensor };
  },
};

/** relu(x) through KdqRelu. */
export function reluOp<T extends tf.Tensor>(x: T): T {
  return tf.engine().runKernel(RELU, { x }) as T;
}

/** Whether the active backend has KdqRelu and its gradient kernel. */
export function reluAvailable(): boolean {
  const b = tf.getBackend();
  return tf.getKernel(RELU, b) !== undefined && tf.getKernel(RELU_GRAD, b) !== undefined;
}
