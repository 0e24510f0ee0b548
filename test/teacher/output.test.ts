/**
 * The claim kdq rests probability teachers on: KD from log(softmax(t)) equals KD from the logits t
 * (softmax is invariant to a constant per row), checked numerically with kdq's own KD loss; and
 * the checks on output values and class counts.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { type KdqError } from '../../src/errors.ts';
import { SOFT_LOSS_REGISTRY } from '../../src/models/losses.ts';
import {
  checkClasses,
  checkOutputValues,
  classesOf,
  looksLikeProbabilities,
  MIN_PROBABILITY,
  resolveOutputKind,
  toLogProbabilities,
} from '../../src/teacher/output.ts';
import { createRng } from '../../src/util/random.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** Float32 softmax of each row, computed as a model's final Softmax does (max subtracted). */
function softmaxRows(logits: Float32Array, classes: number): Float32Array {
  const out = new Float32Array(logits.length);
  for (let r = 0; r < logits.length; r += classes) {
    let m = -Infinity;
    for (let k = 0; k < classes; k++) m = Math.max(m, logits[r + k]!);
    let s = 0;
    for (let k = 0; k < classes; k++) s += Math.exp(logits[r + k]! - m);
    for (let k = 0; k < classes; k++) out[r + k] = Math.exp(logits[r + k]! - m) / s;
  }
  return out;
}

function kd(student: tf.Tensor2D, teacher: Float32Array, rows: number, classes: number, temperature: number): number {
  return tf.tidy(
    () => SOFT_LOSS_REGISTRY.kl({ student, teacher: tf.tensor2d(teacher, [rows, classes]), temperature, temperatureSquared: true }).dataSync()[0]!,
  );
}

describe('log-probabilities as teacher logits', () => {
  it("give the KD loss of the true logits at T = 1..20, for logits spread as a trained teacher's (|t| up to 25)", () => {
    const rows = 256;
    const classes = 10;
    const rand = createRng(3);
    // A confident teacher: one large logit per row, the others spread around 0.
    const logits = Float32Array.from({ length: rows * classes }, (_, i) => (i % classes === Math.floor(i / classes) % classes ? 15 : 0) + (rand() - 0.5) * 20);
    const logp = toLogProbabilities(softmaxRows(logits, classes));
    const student = tf.tensor2d(
      Float32Array.from({ length: rows * classes }, () => (rand() - 0.5) * 8),
      [rows, classes],
    );
    for (const T of [1, 2, 4, 8, 20]) {
      const a = kd(student, logits, rows, classes, T);
      const b = kd(student, logp, rows, classes, T);
      expect(Math.abs(a - b) / a, `T=${T}: ${a} vs ${b}`).toBeLessThan(1e-5);
    }
    // The gradient the student gets is the same too.
    for (const T of [1, 5]) {
      const g = (teacher: Float32Array) =>
        tf.tidy(
          () =>
            tf
              .grad((s: tf.Tensor) =>
                SOFT_LOSS_REGISTRY.kl({ student: s as tf.Tensor2D, teacher: tf.tensor2d(teacher, [rows, classes]), temperature: T, temperatureSquared: true }),
              )(student)
              .dataSync() as Float32Array,
        );
      const ga = g(logits);
      const gb = g(logp);
      let m = 0;
      for (let i = 0; i < ga.length; i++) m = Math.max(m, Math.abs(ga[i]! - gb[i]!));
      expect(m, `gradient at T=${T}`).toBeLessThan(1e-7);
    }
    student.dispose();
  });

  it("differ from the logits by one constant per row (the row's log-sum-exp)", () => {
    const logits = Float32Array.from([2, -1, 0.5, 30, 29, -40]);
    const logp = toLogProbabilities(softmaxRows(logits, 3));
    const shift = (r: number) => Array.from({ length: 3 }, (_, k) => logits[r * 3 + k]! - logp[r * 3 + k]!);
    for (const r of [0, 1]) {
      const s = shift(r);
      expect(Math.max(...s) - Math.min(...s), `row ${r}`).toBeLessThan(1e-5);
    }
  });

  it('clamp a probability of 0 (underflowed) at the smallest normal float32, so the log is finite', () => {
    const out = toLogProbabilities(Float32Array.from([1, 0, 0]));
    expect(out[0]).toBe(0);
    expect(out[1]).toBeCloseTo(Math.log(MIN_PROBABILITY), 5);
    expect(out[1]).toBeCloseTo(-87.3365, 3);
  });
});

describe('output checks', () => {
  const path = 'teacher.onnx';
  const err = (f: () => unknown): KdqError => {
    try {
      f();
    } catch (e) {
      return e as KdqError;
    }
    throw new Error('expected an error');
  };

  it('recognises rows of probabilities, and not logits', () => {
    expect(looksLikeProbabilities(Float32Array.from([0.2, 0.8, 1, 0]), 2)).toBe(true);
    expect(looksLikeProbabilities(Float32Array.from([0.2, 0.7, 1, 0]), 2)).toBe(false);
    expect(looksLikeProbabilities(Float32Array.from([-1, 2, 0.5, 0.5]), 2)).toBe(false);
  });

  it('reads the class count from [batch, K] and [batch, K, 1, 1], and refuses other shapes', () => {
    expect(classesOf([null, 10], path)).toBe(10);
    expect(classesOf([null, 10, 1, 1], path)).toBe(10);
    expect(classesOf([null, null], path)).toBeNull();
    expect(err(() => classesOf([null, 10, 4], path)).message).toMatch(/outputs \[batch, 10, 4\]; a classifier outputs one score per class/);
    expect(err(() => checkClasses(100, 10, path)).message).toMatch(/outputs 100 classes but the data has 10/);
  });

  it('an explicit setting wins over detection, except logits on a model ending in softmax', () => {
    const detected = { kind: 'logits' as const, reason: 'the graph ends in Gemm' };
    expect(resolveOutputKind('probabilities', detected, path)).toEqual({ kind: 'probabilities', reason: 'output: probabilities is set' });
    expect(err(() => resolveOutputKind('logits', { kind: 'probabilities', reason: 'the graph ends in Softmax node "s"' }, path)).code).toBe('E_TEACHER');
  });

  it('refuses non-finite outputs, and probabilities taken for logits (a softmax the graph did not show)', () => {
    expect(err(() => checkOutputValues(Float32Array.from([0, NaN]), 2, 'logits', 'auto', path)).message).toMatch(
      /output NaN for image 0, class 1; check the teacher's scale, mean and std/,
    );
    expect(err(() => checkOutputValues(Float32Array.from([0.3, 0.7, 0.5, 0.5]), 2, 'logits', 'auto', path)).message).toMatch(
      /no final softmax was found in the model; set output: probabilities/,
    );
    expect(() => checkOutputValues(Float32Array.from([0.3, 0.7, 0.5, 0.5]), 2, 'probabilities', 'auto', path)).not.toThrow();
  });
});
