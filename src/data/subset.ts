/**
 * Which examples a run uses: the first N of a file (`trainLimit`, `testLimit`) and a seeded
 * hold-out of the training set (`validationSplit`), kept in the element type of the source.
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

/** The examples at `indices` (in that order), rows of `perExample` values, in the same element type. */
export function gatherExamples<T extends Uint8Array | Float32Array>(x: T, perExample: number, indices: Uint32Array): T {
  const out = (x instanceof Uint8Array ? new Uint8Array(indices.length * perExample) : new Float32Array(indices.length * perExample)) as T;
  for (let j = 0; j < indices.length; j++) out.set(x.subarray(indices[j] * perExample, (indices[j] + 1) * perExample), j * perExample);
  return out;
}

/** The labels at `indices` (in that order). */
export function gatherLabels(labels: Int32Array, indices: Uint32Array): Int32Array {
  const out = new Int32Array(indices.length);
  for (let j = 0; j < indices.length; j++) out[j] = labels[indices[j]];
  return out;
}

/**
 * The first `limit` training examples (null: all), as views into the given arrays: the subset a
 * model's `training.trainLimit` keeps. Rows of `perImage` values (pixels, or logits of soft
 * labels) stay aligned because every array is cut at the same image count.
 */
export function firstExamples<T extends { [k: string]: { array: Float32Array | Uint8Array | Int32Array; perImage: number } }>(
  parts: T,
  count: number,
  limit: number | null,
  key: string,
): { [K in keyof T]: T[K]['array'] } {
  const n = applyLimit(count, limit, key);
  const out: Record<string, Float32Array | Uint8Array | Int32Array> = {};
  for (const [name, { array, perImage }] of Object.entries(parts)) {
    if (array.length !== count * perImage) {
      throw new KdqError(
        'E_DATA',
        `${key}: '${name}' has ${array.length} values, expected ${count} images x ${perImage}; the arrays do not describe the same images`,
      );
    }
    out[name] = array.subarray(0, n * perImage);
  }
  return out as { [K in keyof T]: T[K]['array'] };
}
