/**
 * Low-level access to the wasm backend's heap, shared by kdq's wasm kernels. Kernels read and
 * write tensors in place on the heap instead of `readSync`, which copies the whole tensor out.
 */
import type * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { heapOffset, simdKernels } from '../simd/index.ts';

/** The wasm module's pieces the kernels use; `wasm` is typed loosely in tfjs' own .d.ts. */
interface WasmModule {
  cwrap(name: string, ret: null, args: string[]): (...args: unknown[]) => void;
}

/** Emscripten id of a tensor (the key XNNPACK and the C++ kernels know it by). */
export function wasmId(backend: BackendWasm, t: tf.TensorInfo): number {
  return backend.dataIdMap.get(t.dataId)!.id;
}

/**
 * A float32 view of a tensor on the heap. Take it again after every allocation: a `malloc` can grow
 * the heap, which detaches every earlier view.
 */
export function heapF32(backend: BackendWasm, t: tf.TensorInfo): Float32Array {
  return backend.typedArrayFromHeap(t) as Float32Array;
}

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

type MatMulFn = (
  aId: number,
  aShape: Uint8Array,
  aRank: number,
  bId: number,
  bShape: Uint8Array,
  bRank: number,
  transposeA: boolean,
  transposeB: boolean,
  outId: number,
) => void;

const matMulFns = new WeakMap<object, MatMulFn>();

function shapeBytes(shape: readonly number[]): Uint8Array {
  return new Uint8Array(new Int32Array(shape).buffer);
}

/**
 * out[m, n] = a[m, k] x b[k, n] through the backend's own untransposed, batch-1 BatchMatMul, the
 * only case it hands to XNNPACK. XNNPACK caches its packed right-hand side by tensor id, so `b`
 * must always be viewed with the same shape: pass each tensor as `b` only with its natural 2-D shape.
 */
export function matMul2d(backend: BackendWasm, a: tf.TensorInfo, b: tf.TensorInfo, m: number, k: number, n: number): tf.TensorInfo {
  const wasm = backend.wasm as unknown as WasmModule;
  let fn = matMulFns.get(wasm);
  if (fn === undefined) {
    fn = wasm.cwrap('BatchMatMul', null, ['number', 'array', 'number', 'number', 'array', 'number', 'number', 'number', 'number']) as MatMulFn;
    matMulFns.set(wasm, fn);
  }
  const out = backend.makeOutput([m, n], 'float32');
  fn(wasmId(backend, a), shapeBytes([1, m, k]), 3, wasmId(backend, b), shapeBytes([1, k, n]), 3, false, false, wasmId(backend, out));
  return out;
}

/** A new [cols, rows] tensor holding the transpose of the [rows, cols] tensor `t`. */
export function transpose2d(backend: BackendWasm, t: tf.TensorInfo, rows: number, cols: number): tf.TensorInfo {
  const out = backend.makeOutput([cols, rows], 'float32');
  const simd = simdKernels(backend);
  if (simd !== null) {
    simd.transpose_2d(heapOffset(backend, t), heapOffset(backend, out), rows, cols);
    return out;
  }
  const src = heapF32(backend, t);
  const dst = heapF32(backend, out);
  // Blocked so that both the reads and the writes stay within a few cache lines.
  const B = 32;
  for (let r0 = 0; r0 < rows; r0 += B) {
    const r1 = Math.min(rows, r0 + B);
    for (let c0 = 0; c0 < cols; c0 += B) {
      const c1 = Math.min(cols, c0 + B);
      for (let r = r0; r < r1; r++) {
        const rowBase = r * cols;
        for (let c = c0; c < c1; c++) dst[c * rows + r] = src[rowBase + c];
      }
    }
  }
  return out;
}

/** `t`'s buffer as a kernel output: one more reference to it, no copy. */
export function shareBuffer(backend: BackendWasm, t: tf.TensorInfo): tf.TensorInfo {
  backend.incRef(t.dataId);
  return { dataId: t.dataId, shape: [...t.shape], dtype: t.dtype };
}

/** Frees a temporary tensor made inside a kernel. */
export function release(backend: BackendWasm, t: tf.TensorInfo): void {
  backend.disposeData(t.dataId);
}
