/** Paths, recorded values and MNIST test images shared by the teacher tests. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { inputsOf, loadDataset } from '../../src/data/dataset.ts';
import { KdqError } from '../../src/errors.ts';

export const TEACHERS = join(import.meta.dirname, '..', 'fixtures', 'teachers');
export const fixture = (name: string): string => join(TEACHERS, name);
export const MNIST = { imageShape: [28, 28, 1] as [number, number, number], classes: 10 };

interface FixtureRecord {
  bytes: number;
  sha256: string;
  classes: number;
  test_accuracy?: number;
  test_correct?: number;
  first8_logits?: number[][];
  first8_probabilities?: number[][];
  pattern_logits?: number[][];
  mean?: number[];
  std?: number[];
}
/** What scripts/make-teacher-fixtures.py recorded in PyTorch for each ONNX fixture. */
export const PYTORCH = JSON.parse(readFileSync(fixture('fixtures.json'), 'utf8')) as { versions: Record<string, string>; files: Record<string, FixtureRecord> };
/** What scripts/make-tfjs-teacher-fixture.ts recorded in tf.js. */
export const TFJS = JSON.parse(readFileSync(fixture('tfjs-fixtures.json'), 'utf8')) as {
  params: number;
  tfjs_test: { correct: number; accuracy: number };
  'tfjs-cnn/model.json': { first8_probabilities: number[] };
};

/** The MNIST test set as kdq holds it (NHWC, [0, 1]). */
export async function mnistTest(limit: number | null = null): Promise<{ images: Float32Array; labels: Uint8Array }> {
  const d = await loadDataset({ source: 'mnist', trainLimit: 1, testLimit: limit, validationSplit: 0 }, { baseDir: process.cwd(), seed: 1 });
  return { images: inputsOf(d, d.test).range(0, d.test.count), labels: Uint8Array.from(d.test.y) };
}

/** Top-1 accuracy of [n, classes] scores. */
export function accuracyOf(scores: Float32Array, labels: Uint8Array, classes: number): { correct: number; accuracy: number } {
  let correct = 0;
  for (let i = 0; i < labels.length; i++) {
    let best = 0;
    for (let k = 1; k < classes; k++) if (scores[i * classes + k]! > scores[i * classes + best]!) best = k;
    if (best === labels[i]) correct++;
  }
  return { correct, accuracy: correct / labels.length };
}

/** The KdqError a promise rejects with (fails the test when it resolves or throws something else). */
export async function rejection(p: Promise<unknown>): Promise<KdqError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof KdqError) return err;
    throw err;
  }
  throw new Error('expected a KdqError, but the call succeeded');
}

/** Largest absolute difference of two arrays of the same length. */
export function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
