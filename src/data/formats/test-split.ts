/**
 * A seeded, stratified hold-out for sources without a test file of their own (`testSplit` of a
 * CSV file or an image folder): each class gives round(n * fraction) of its examples, chosen by a
 * seeded shuffle of that class alone, so adding examples to one class never moves another's.
 */
import { KdqError } from '../../errors.ts';
import { deriveSeed, permutation } from '../../util/random.ts';

/** Label of the seed derived from the run seed for the test hold-out. */
export const TEST_SPLIT_SEED_LABEL = 'test-split';

export interface SplitIndices {
  /** Indices of training examples, ascending. */
  train: Uint32Array;
  /** Indices of test examples, ascending. */
  test: Uint32Array;
}

/** Checks a `testSplit` option: a fraction strictly between 0 and 1. */
export function checkTestSplit(fraction: number, key: string): void {
  if (!(typeof fraction === 'number' && fraction > 0 && fraction < 1)) {
    throw new KdqError('E_CONFIG', `${key} is ${JSON.stringify(fraction)}; give a fraction between 0 and 1, e.g. 0.2`);
  }
}

/** How many of a class's `n` examples go to the test split; at least one always stays for training. */
export function testShare(n: number, fraction: number): number {
  return Math.min(Math.round(n * fraction), Math.max(0, n - 1));
}

/**
 * Splits examples 0..labels.length-1 by class. `key` names the option in errors
 * (e.g. `data.testSplit`); `seed` is the run seed, from which the split's own seed is derived.
 */
export function stratifiedSplit(labels: ArrayLike<number>, numClasses: number, fraction: number, seed: number, key: string): SplitIndices {
  checkTestSplit(fraction, key);
  const byClass: number[][] = Array.from({ length: numClasses }, () => []);
  for (let i = 0; i < labels.length; i++) byClass[labels[i]].push(i);
  const isTest = new Uint8Array(labels.length);
  let tests = 0;
  byClass.forEach((members, c) => {
    const k = testShare(members.length, fraction);
    const perm = permutation(members.length, deriveSeed(seed, `${TEST_SPLIT_SEED_LABEL}/${c}`));
    for (let j = 0; j < k; j++) isTest[members[perm[j]]] = 1;
    tests += k;
  });
  if (tests === 0) {
    throw new KdqError('E_CONFIG', `${key} ${fraction} of ${labels.length} examples puts none in the test split; raise it, or give a test file or folder`);
  }
  const train = new Uint32Array(labels.length - tests);
  const test = new Uint32Array(tests);
  let a = 0;
  let b = 0;
  for (let i = 0; i < labels.length; i++) {
    if (isTest[i]) test[b++] = i;
    else train[a++] = i;
  }
  return { train, test };
}
