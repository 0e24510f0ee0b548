/**
 * Per-channel sums over the rows of an NHWC tensor (batch normalization's statistics and gradient
 * sums, bias gradients) on kdq's SIMD kernels (norm.wat): each block of 256 rows summed on its own
 * into scratch, then the blocks' partials added from 0 in block order. With a second thread the
 * threads share out ranges of blocks; the additions and their order are the same on one thread or
 * two, so are the bits.
 */
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { intraOp, MIN_SPLIT_ELEMENTS, shareRange, type KernelCall } from '../intra-op/index.ts';
import { heapOffset, type SimdKernels } from '../simd/index.ts';
import { release } from './wasm-heap.ts';

/** Rows per block (norm.wat's channel_partials and grad_partials). */
export const SUM_BLOCK_ROWS = 256;

/**
 * The kernel call that writes the partials of rows [r0, r1) (r0 a whole number of blocks in) into
 * `parts`, one array per sum, each at that range's first block.
 */
export type PartialsCall = (r0: number, r1: number, parts: number[]) => KernelCall;

/**
 * Fills each of `outs` (pointers to C floats) with its per-channel sum over `rows` rows, from the
 * partials `partials` writes (one array of partials per output), divided by `divisor` unless it is 0.
 */
export function blockSums(
  backend: BackendWasm,
  simd: SimdKernels,
  partials: PartialsCall,
  outs: readonly number[],
  rows: number,
  C: number,
  divisor = 0,
): void {
  const blocks = Math.ceil(rows / SUM_BLOCK_ROWS);
  const scratch = backend.makeOutput([Math.max(1, blocks * C * outs.length)], 'float32');
  const base = heapOffset(backend, scratch);
  const parts = outs.map((_, i) => base + 4 * i * blocks * C);
  const from = (block: number) => parts.map((p) => p + 4 * block * C);
  const pool = rows * C >= MIN_SPLIT_ELEMENTS ? intraOp(backend) : null;
  // ranges of whole blocks, which the threads share out
  shareRange(pool, simd, rows, SUM_BLOCK_ROWS, (r0, r1) => partials(r0, r1, from(r0 / SUM_BLOCK_ROWS)));
  outs.forEach((out, i) => simd.sum_partials(parts[i]!, blocks, C, out, divisor));
  release(backend, scratch);
}
