/**
 * Which examples a run uses: the first N of a file (`trainLimit`, `testLimit`) and a seeded
 * hold-out of the training set (`validationSplit`), and turning their bytes into [0, 1] floats.
 */
import { KdqError } from '../errors.ts';
import { deriveSeed, permutation } from '../util/random.ts';

/** Label of the seed derived from the run seed for the validation hold-out. */
export const SPLIT_SEED_LABEL = 'validation-split';

/** How many of `available` examples a limit keeps (null: all; a limit past the end keeps all). */
export function applyLimit(available: number, limit: number | null, key: string): number {
  if (limit === null) return available;
  if (!Number.isInteger(limit) || limit < 1) {
    throw new KdqError('E_CONFIG', `${key} is ${limit}; give a whole number of at least 1, or null for all examples`);
  }
  return Math.min(limit, available);
}

/** Size of the hold-out for `fraction` of `n` examples: rounded, at least one when the fraction is positive. */
export function validationCount(n: number, fraction: number): number {
  if (!(fraction >= 0 && fraction < 1)) {
    throw new KdqError('E_CONFIG', `data.validationSplit is ${fraction}; give a fraction in [0, 1), e.g. 0.1`);
  }
  if (fraction === 0) return 0;
  const k = Math.max(1, Math.round(n * fraction));
  if (k >= n) {
    throw new KdqError(
      'E_CONFIG',
      `data.validationSplit ${fraction} of ${n} training examples leaves none to train on; lower the split or raise data.trainLimit`,
    );
  }
  return k;
}

/**
 * Splits indices 0..n-1 into a training and a validation part with a seeded shuffle. Both parts
 * are returned in ascending order, so the training set keeps the file's order and the split of a
 * seed is the same on every machine.
 */
export function splitIndices(n: number, fraction: number, seed: number): { train: Uint32Array; validation: Uint32Array } {
  const k = validationCount(n, fraction);
  const perm = permutation(n, deriveSeed(seed, SPLIT_SEED_LABEL));
  const validation = perm.slice(0, k).sort();
  const train = perm.slice(k).sort();
  return { train, validation };
}

/** The first `count` images of `pixels`, scaled to [0, 1]. */
export function scalePrefix(pixels: Uint8Array, pixelsPerImage: number, count: number): Float32Array {
  const len = count * pixelsPerImage;
  const out = new Float32Array(len);
  // A plain division measured faster than a 256-entry lookup table (no dependent load), and
  // gives the same float32 values.
  for (let i = 0; i < len; i++) out[i] = pixels[i] / 255;
  return out;
}

/** The images at `indices` (in that order), scaled to [0, 1]. */
export function gatherScaled(pixels: Uint8Array, pixelsPerImage: number, indices: Uint32Array): Float32Array {
  const out = new Float32Array(indices.length * pixelsPerImage);
  for (let j = 0; j < indices.length; j++) {
    const src = indices[j] * pixelsPerImage;
    const dst = j * pixelsPerImage;
    for (let p = 0; p < pixelsPerImage; p++) out[dst + p] = pixels[src + p] / 255;
  }
  return out;
}

/** The labels at `indices` (in that order). */
export function gatherLabels(labels: Uint8Array, indices: Uint32Array): Uint8Array {
  const out = new Uint8Array(indices.length);
  for (let j = 0; j < indices.length; j++) out[j] = labels[indices[j]];
  return out;
}

/**
 * The first `limit` training examples (null: all), as views into the given arrays: the subset a
 * model's `training.trainLimit` keeps. Rows of `perImage` values (pixels, or logits of soft
 * labels) stay aligned because every array is cut at the same image count.
 */
export function firstExamples<T extends { [k: string]: { array: Float32Array | Uint8Array; perImage: number } }>(
  parts: T,
  count: number,
  limit: number | null,
  key: string,
): { [K in keyof T]: T[K]['array'] } {
  const n = applyLimit(count, limit, key);
  const out: Record<string, Float32Array | Uint8Array> = {};
  for (const [name, { array, perImage }] of Object.entries(parts)) {
    if (array.length !== count * perImage) {
      throw new KdqError('E_DATA', `${key}: '${name}' has ${array.length} values, expected ${count} images x ${perImage}; the arrays do not describe the same images`);
    }
    out[name] = array.subarray(0, n * perImage);
  }
  return out as { [K in keyof T]: T[K]['array'] };
}
