/**
 * Batches copied out of the training arrays in JS (the examples themselves through ModelInputs,
 * which converts them per batch). Slicing one big tensor is what tf.js would do,
 * but the wasm backend's Slice copies its whole input on every call, and a tensor of the whole
 * training set would double its memory for nothing.
 */
import { deriveSeed, permutation } from '../util/random.ts';

/**
 * The order of the examples in epoch `epoch` (0-based): a seeded permutation, fresh each epoch,
 * or 0..n-1 when `shuffle` is off. Only the epoch number and the run seed decide it.
 */
export function epochOrder(n: number, seed: number, epoch: number, shuffle: boolean): Uint32Array {
  if (shuffle) return permutation(n, deriveSeed(seed, `shuffle-${epoch}`));
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  return order;
}

/** Copies rows `order[start..end)` of `src` (rows of `rowSize` values) into a new array. */
export function gatherRows(src: Float32Array, rowSize: number, order: ArrayLike<number>, start: number, end: number): Float32Array {
  const out = new Float32Array((end - start) * rowSize);
  for (let i = start; i < end; i++) {
    const row = order[i] * rowSize;
    out.set(src.subarray(row, row + rowSize), (i - start) * rowSize);
  }
  return out;
}

/** One-hot rows for labels `order[start..end)`. */
export function oneHotRows(labels: ArrayLike<number>, numClasses: number, order: ArrayLike<number>, start: number, end: number): Float32Array {
  const out = new Float32Array((end - start) * numClasses);
  for (let i = start; i < end; i++) out[(i - start) * numClasses + labels[order[i]]] = 1;
  return out;
}

/** Labels `order[start..end)`, in batch order. */
export function gatherLabels(labels: ArrayLike<number>, order: ArrayLike<number>, start: number, end: number): Int32Array {
  const out = new Int32Array(end - start);
  for (let i = start; i < end; i++) out[i - start] = labels[order[i]];
  return out;
}
