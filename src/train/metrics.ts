/**
 * Classification metrics on logits held in JS arrays (row-major, n x numClasses). The predicted
 * class is the first index of the row's maximum, as tf.argMax picks it.
 */
import { KdqError } from '../errors.ts';

function rows(logits: Float32Array, numClasses: number, what: string): number {
  if (!Number.isInteger(numClasses) || numClasses < 1 || logits.length % numClasses !== 0) {
    throw new KdqError('E_INTERNAL', `${what}: ${logits.length} logits do not divide into rows of ${numClasses} classes; pass the model's number of outputs`);
  }
  return logits.length / numClasses;
}

function checkLabels(n: number, labels: ArrayLike<number>, what: string): void {
  if (labels.length !== n) {
    throw new KdqError('E_INTERNAL', `${what}: ${n} rows of logits but ${labels.length} labels; pass the labels of the same images`);
  }
}

/** Predicted class of each row. */
export function argmaxRows(logits: Float32Array, numClasses: number): Uint8Array | Uint16Array {
  const n = rows(logits, numClasses, 'argmaxRows');
  const out = numClasses <= 256 ? new Uint8Array(n) : new Uint16Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    let bestValue = logits[i * numClasses];
    for (let k = 1; k < numClasses; k++) {
      const v = logits[i * numClasses + k];
      if (v > bestValue) {
        bestValue = v;
        best = k;
      }
    }
    out[i] = best;
  }
  return out;
}

/** Fraction of rows whose predicted class equals the label (0 for no rows). */
export function accuracy(logits: Float32Array, labels: ArrayLike<number>, numClasses: number): number {
  const pred = argmaxRows(logits, numClasses);
  checkLabels(pred.length, labels, 'accuracy');
  let hits = 0;
  for (let i = 0; i < pred.length; i++) if (pred[i] === labels[i]) hits++;
  return pred.length === 0 ? 0 : hits / pred.length;
}

/** Top-1 agreement: fraction of rows where both models predict the same class. */
export function agreement(logitsA: Float32Array, logitsB: Float32Array, numClasses: number): number {
  const a = argmaxRows(logitsA, numClasses);
  const b = argmaxRows(logitsB, numClasses);
  if (a.length !== b.length) {
    throw new KdqError('E_INTERNAL', `agreement: ${a.length} rows vs ${b.length} rows; compare predictions on the same images`);
  }
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
  return a.length === 0 ? 0 : same / a.length;
}

/**
 * `m[label][predicted]` = number of images of class `label` predicted as `predicted`.
 */
export function confusionMatrix(logits: Float32Array, labels: ArrayLike<number>, numClasses: number): number[][] {
  const pred = argmaxRows(logits, numClasses);
  checkLabels(pred.length, labels, 'confusionMatrix');
  return confusionFromPredictions(pred, labels, numClasses);
}

/** The confusion matrix of predicted classes (e.g. a .tflite file's top-1 outputs). */
export function confusionFromPredictions(pred: ArrayLike<number>, labels: ArrayLike<number>, numClasses: number): number[][] {
  checkLabels(pred.length, labels, 'confusionFromPredictions');
  const m = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  for (let i = 0; i < pred.length; i++) {
    const y = labels[i];
    if (!(y >= 0 && y < numClasses)) {
      throw new KdqError('E_DATA', `label ${y} of image ${i} is outside 0..${numClasses - 1}; check the label file`);
    }
    const p = pred[i];
    if (!(p >= 0 && p < numClasses)) {
      throw new KdqError('E_INTERNAL', `prediction ${p} of image ${i} is outside 0..${numClasses - 1}; the model has more outputs than classes`);
    }
    m[y][p]++;
  }
  return m;
}

/** Accuracy per true class; `null` for a class with no images (JSON has no NaN). */
export function perClassAccuracy(logits: Float32Array, labels: ArrayLike<number>, numClasses: number): (number | null)[] {
  return perClassFromConfusion(confusionMatrix(logits, labels, numClasses));
}

/** Row k's diagonal share: the accuracy on images of class k (`null` for an empty row). */
export function perClassFromConfusion(m: number[][]): (number | null)[] {
  return m.map((row, k) => {
    const total = row.reduce((a, b) => a + b, 0);
    return total === 0 ? null : row[k] / total;
  });
}
