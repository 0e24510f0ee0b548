/**
 * KdqAdamUpdate: one Adam step for one variable in a single pass over the heap, for the wasm
 * backend. tf.js' Adam runs about a dozen element-wise kernels per variable, each allocating a
 * full-size tensor; this reads value, gradient and both moments once and writes them once. The
 * value goes to a new tensor, because XNNPACK caches packed weights by tensor id and would keep
 * using stale ones. The moments are updated in place when nothing else holds their buffers (they
 * are the optimizer's own, read by no other kernel), and returned as the same buffers: 5.5 MB a
 * step less memory touched for the teacher, which on this project's VM costs time in proportion
 * (README, "Results"). Formula, as tf.js' AdamOptimizer:
 *   m' = b1 m + (1 - b1) g;  v' = b2 v + (1 - b2) g^2;  w' = w - lr (m' / c1) / (sqrt(v' / c2) + eps)
 * with c1 = 1 - b1^t, c2 = 1 - b2^t. In float32 SIMD (../simd/kernels.wat) where the runtime has it,
 * else a float64 JavaScript loop.
 */
import type * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { intraOp, MIN_SPLIT_ELEMENTS, shareRange, type KernelCall } from '../intra-op/index.ts';
import { heapOffset, simdKernels } from '../simd/index.ts';
import { heapF32, shareBuffer, sizeOf } from './wasm-heap.ts';

export const ADAM_UPDATE = 'KdqAdamUpdate';

export interface AdamUpdateAttrs {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  /** 1 - beta1^t and 1 - beta2^t for this step t. */
  c1: number;
  c2: number;
}

/**
 * `t` itself as an output to write in place (its buffer referenced once more), or undefined when
 * another tensor shares the buffer (kdq's Identity shares buffers) and writing would change it.
 * Every element is read before it is written at the same offset, so aliasing output and input is safe.
 */
function inPlace(backend: BackendWasm, t: tf.TensorInfo): tf.TensorInfo | undefined {
  return backend.refCount(t.dataId) === 1 ? shareBuffer(backend, t) : undefined;
}

function adamUpdate(args: {
  inputs: { value: tf.TensorInfo; gradient: tf.TensorInfo; m: tf.TensorInfo; v: tf.TensorInfo };
  backend: BackendWasm;
  attrs: AdamUpdateAttrs;
}): tf.TensorInfo[] {
  const { inputs, backend, attrs } = args;
  const shape = [...inputs.value.shape];
  const outW = backend.makeOutput(shape, 'float32');
  const outM = inPlace(backend, inputs.m) ?? backend.makeOutput(shape, 'float32');
  const outV = inPlace(backend, inputs.v) ?? backend.makeOutput(shape, 'float32');
  const { beta1, beta2, epsilon, c1, c2 } = attrs;
  const simd = simdKernels(backend);
  if (simd !== null) {
    const at = (t: tf.TensorInfo) => heapOffset(backend, t);
    const n = sizeOf(shape);
    const scalars = [beta1, beta2, 1 - beta1, 1 - beta2, -attrs.learningRate / c1, 1 / c2, epsilon];
    const ptrs = [inputs.value, inputs.gradient, inputs.m, inputs.v, outW, outM, outV].map(at);
    // Each element is updated on its own: with a second thread, the threads share out ranges of them.
    const pool = n >= MIN_SPLIT_ELEMENTS ? intraOp(backend) : null;
    const part = (from: number, to: number): KernelCall => ['adam', ...ptrs.map((p) => p + 4 * from), to - from, ...scalars];
    shareRange(pool, simd, n, 4, part);
    return [outW, outM, outV];
  }
  const w = heapF32(backend, inputs.value);
  const g = heapF32(backend, inputs.gradient);
  const m = heapF32(backend, inputs.m);
  const v = heapF32(backend, inputs.v);
  const w2 = heapF32(backend, outW);
  const m2 = heapF32(backend, outM);
  const v2 = heapF32(backend, outV);
  const a1 = 1 - beta1;
  const a2 = 1 - beta2;
  const step = -attrs.learningRate / c1;
  const invC2 = 1 / c2;
  for (let i = 0; i < w.length; i++) {
    const gi = g[i];
    const mi = beta1 * m[i] + a1 * gi;
    const vi = beta2 * v[i] + a2 * gi * gi;
    m2[i] = mi;
    v2[i] = vi;
    w2[i] = w[i] + (step * mi) / (Math.sqrt(vi * invC2) + epsilon);
  }
  return [outW, outM, outV];
}

export const adamUpdateConfig: tf.KernelConfig = {
  kernelName: ADAM_UPDATE,
  backendName: 'wasm',
  kernelFunc: adamUpdate as unknown as tf.KernelFunc,
};
