/**
 * BatchMatMul override for the wasm backend. The stock kernel sends only untransposed, batch-1
 * products to XNNPACK and runs every transposed one (all of a Dense layer's backward pass) as a
 * naive loop, about 10x slower. kdq's SIMD kernels take the two a Dense layer's backward pass
 * makes, A^T B (the weight gradient) and A B^T (the input gradient), without any transpose; other
 * transposed products are transposed explicitly and sent to the fast path, choosing between
 * C = op(A) op(B) and C = (op(B)^T op(A)^T)^T whichever copies fewer elements.
 */
import type * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { intraOp, MIN_SPLIT_MACS, shareRange, type KernelCall } from '../intra-op/index.ts';
import { heapOffset, simdKernels } from '../simd/index.ts';
import { matMul2d, release, sizeOf, transpose2d } from './wasm-heap.ts';

interface BatchMatMulAttrs {
  transposeA: boolean;
  transposeB: boolean;
}

type Args = { inputs: { a: tf.TensorInfo; b: tf.TensorInfo }; backend: BackendWasm; attrs: BatchMatMulAttrs };

/** Elements copied by each way of computing a transposed product; exported for its tests. */
export function transposeCosts(m: number, k: number, n: number, transposeA: boolean, transposeB: boolean): { direct: number; swapped: number } {
  return {
    direct: (transposeA ? m * k : 0) + (transposeB ? k * n : 0),
    swapped: (transposeA ? 0 : m * k) + (transposeB ? 0 : k * n) + m * n,
  };
}

/** Wraps the stock kernel: untouched cases (no transpose, batches, non-float32) go to it. */
export function fastBatchMatMulConfig(original: tf.KernelConfig): tf.KernelConfig {
  const fallback = original.kernelFunc as unknown as (args: Args) => tf.TensorInfo;
  function batchMatMul(args: Args): tf.TensorInfo {
    const { inputs, backend, attrs } = args;
    const { a, b } = inputs;
    const { transposeA, transposeB } = attrs;
    const ra = a.shape.length;
    const rb = b.shape.length;
    if (
      (!transposeA && !transposeB) ||
      a.dtype !== 'float32' ||
      b.dtype !== 'float32' ||
      sizeOf(a.shape.slice(0, -2)) !== 1 ||
      sizeOf(b.shape.slice(0, -2)) !== 1
    ) {
      return fallback(args);
    }
    // a is stored [aRows, aCols], b is [bRows, bCols]; op() applies the requested transpose.
    const aRows = a.shape[ra - 2];
    const aCols = a.shape[ra - 1];
    const bRows = b.shape[rb - 2];
    const bCols = b.shape[rb - 1];
    const m = transposeA ? aCols : aRows;
    const k = transposeA ? aRows : aCols;
    const n = transposeB ? bRows : bCols;
    const kb = transposeB ? bCols : bRows;
    if (k !== kb) return fallback(args); // let the stock kernel word the shape error
    const outShape = [...(ra >= rb ? a.shape : b.shape).slice(0, -2), m, n];
    const simd = simdKernels(backend);
    if (simd !== null && transposeA !== transposeB && (transposeA ? n % 8 === 0 : k % 4 === 0)) {
      const out = backend.makeOutput([m, n], 'float32');
      // A^T B: a is [k, m], b is [k, n]. A B^T: a is [m, k], b is [n, k].
      const [ap, bp, cp] = [heapOffset(backend, a), heapOffset(backend, b), heapOffset(backend, out)];
      // A^T B in ranges of the rows of C (m), A B^T of its columns (n), each a multiple of 4 long;
      // with a second thread, the threads share them out (shareRange).
      const end = transposeA ? m : n;
      const pool = m * k * n >= MIN_SPLIT_MACS ? intraOp(backend) : null;
      const part = (from: number, to: number): KernelCall =>
        transposeA ? ['matmul_tn', ap, bp, cp, k, m, n, from, to] : ['matmul_nt', ap, bp, cp, m, n, k, from, to];
      shareRange(pool, simd, end, 4, part);
      return { dataId: out.dataId, shape: outShape, dtype: 'float32' };
    }
    const cost = transposeCosts(m, k, n, transposeA, transposeB);
    let result: tf.TensorInfo;
    if (cost.direct <= cost.swapped) {
      const left = transposeA ? transpose2d(backend, a, aRows, aCols) : a;
      const right = transposeB ? transpose2d(backend, b, bRows, bCols) : b;
      result = matMul2d(backend, left, right, m, k, n);
      if (left !== a) release(backend, left);
      if (right !== b) release(backend, right);
    } else {
      // C^T[n, m] = op(B)^T[n, k] x op(A)^T[k, m]; op(B)^T is B itself when B was to be transposed.
      const left = transposeB ? b : transpose2d(backend, b, bRows, bCols);
      const right = transposeA ? a : transpose2d(backend, a, aRows, aCols);
      const ct = matMul2d(backend, left, right, n, k, m);
      if (left !== b) release(backend, left);
      if (right !== a) release(backend, right);
      result = transpose2d(backend, ct, n, m);
      release(backend, ct);
    }
    return { dataId: result.dataId, shape: outShape, dtype: 'float32' };
  }
  return { ...original, kernelFunc: batchMatMul as unknown as tf.KernelFunc };
}
