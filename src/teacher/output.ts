/**
 * A teacher's output as KD needs it: the class count checked against the data, and probabilities
 * turned into log-probabilities.
 *
 * Why log-probabilities are as good as logits for KD: if p = softmax(t), then
 * log p_k = t_k - logsumexp(t), the logits minus one constant per row, and softmax is unchanged by
 * adding a constant to a row, so softmax(log p / T) = softmax(t / T) at every temperature T: the
 * soft targets, the KL term and its gradient are exactly those of the true logits. What is lost
 * is only what float32 probabilities already lost: a class whose probability underflowed to 0.
 */
import { KdqError } from '../errors.ts';
import { dimsText, type Dim } from './input-shape.ts';
import type { TeacherOutput, TeacherOutputKind } from './types.ts';

/**
 * Smallest probability kept (the smallest normal float32, ln = -87.34): a probability of 0 becomes
 * this, so that its log is finite. At temperature T its soft target is exp(-87.34 / T) relative to
 * a probability-1 class.
 */
export const MIN_PROBABILITY = 1.1754944e-38;

/** Natural log of each probability, clamped at MIN_PROBABILITY, in place. */
export function toLogProbabilities(values: Float32Array): Float32Array {
  for (let i = 0; i < values.length; i++) {
    const p = values[i]!;
    values[i] = Math.log(p > MIN_PROBABILITY ? p : MIN_PROBABILITY);
  }
  return values;
}

/** True when every row is a probability vector: entries in [0, 1] summing to 1 within `tolerance`. */
export function looksLikeProbabilities(values: Float32Array, classes: number, tolerance = 1e-4): boolean {
  if (classes < 2 || values.length === 0) return false;
  for (let r = 0; r < values.length; r += classes) {
    let sum = 0;
    for (let k = r; k < r + classes; k++) {
      const v = values[k]!;
      if (!(v >= 0 && v <= 1)) return false;
      sum += v;
    }
    if (Math.abs(sum - 1) > tolerance) return false;
  }
  return true;
}

/**
 * Classes from an output's declared shape: [batch, K], or [batch, K, 1, 1]-like shapes with one
 * axis of K and the rest 1. Null when a dimension is symbolic (known after the first run).
 */
export function classesOf(dims: readonly Dim[] | null, path: string): number | null {
  if (dims === null) return null;
  const rest = dims.slice(1);
  if (rest.some((d) => d === null || d <= 0)) return null;
  const big = rest.filter((d) => d! > 1);
  if (rest.length >= 1 && big.length <= 1) return big[0] ?? 1;
  throw new KdqError('E_TEACHER', `teacher model '${path}' outputs ${dimsText(dims)}; a classifier outputs one score per class, [batch, classes]`);
}

/** Throws E_TEACHER unless the teacher's class count equals the data's. */
export function checkClasses(classes: number, dataClasses: number, path: string): void {
  if (classes !== dataClasses) {
    throw new KdqError(
      'E_TEACHER',
      `teacher model '${path}' outputs ${classes} classes but the data has ${dataClasses} (labels 0-${dataClasses - 1}); ` +
        "use a teacher trained on this data's classes",
    );
  }
}

/**
 * The output kind from the setting and what the model itself says (`detected`: a final softmax
 * in the graph or layers). `output: logits` on a model that ends in softmax is refused: its
 * probabilities would be softened as if they were logits, which flattens every soft target.
 */
export function resolveOutputKind(
  setting: TeacherOutput,
  detected: { kind: TeacherOutputKind; reason: string },
  path: string,
): { kind: TeacherOutputKind; reason: string } {
  if (setting === 'auto') return detected;
  if (setting === 'logits' && detected.kind === 'probabilities') {
    throw new KdqError(
      'E_TEACHER',
      `teacher model '${path}': output is logits but ${detected.reason}, so it outputs probabilities; set output: probabilities or auto`,
    );
  }
  return { kind: setting, reason: `output: ${setting} is set` };
}

/**
 * Checks one output batch: finite values, and, for a teacher taken to output logits, values that
 * are not all probability vectors (a softmax the graph did not show as one node). Throws E_TEACHER.
 */
export function checkOutputValues(values: Float32Array, classes: number, kind: TeacherOutputKind, setting: TeacherOutput, path: string): void {
  const bad = values.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) {
    throw new KdqError(
      'E_TEACHER',
      `teacher model '${path}' output ${values[bad]} for image ${Math.floor(bad / classes)}, class ${bad % classes}; ` +
        "check the teacher's scale, mean and std (it should see the pixels it was trained on)",
    );
  }
  if (kind === 'probabilities' && !looksLikeProbabilities(values, classes, 1e-3)) {
    throw new KdqError(
      'E_TEACHER',
      `teacher model '${path}' is taken to output probabilities (${setting === 'auto' ? 'it ends in a softmax' : 'output is probabilities'}) ` +
        'but its outputs are not rows of values in [0, 1] that sum to 1; set output: logits',
    );
  }
  if (kind === 'logits' && values.length / classes >= 2 && looksLikeProbabilities(values, classes)) {
    throw new KdqError(
      'E_TEACHER',
      `teacher model '${path}' outputs rows of values in [0, 1] that sum to 1, i.e. probabilities, but ${setting === 'auto' ? 'no final softmax was found in the model' : 'output is logits'}; ` +
        'set output: probabilities',
    );
  }
}
