/**
 * Validation: the model's loss and accuracy on the images `data.validationSplit` holds out of
 * training, once per epoch. The loss is plain cross-entropy with the true labels for every
 * stage, whatever it trains on (KD loss, label smoothing), so the teacher's, the student's and
 * the baseline's validation curves measure the same thing and can be compared.
 */
import type * as tf from '@tensorflow/tfjs';
import { KdqError } from '../errors.ts';
import { argmaxRows } from './metrics.ts';
import type { ModelInputs } from '../data/model-inputs.ts';
import { predictLogits } from './predict.ts';

/** Held-out examples (converted a batch at a time, like the training ones) and their labels. */
export interface ValidationData {
  inputs: ModelInputs;
  labels: ArrayLike<number>;
}

export interface ValidationResult {
  /** Mean cross-entropy per image, `1/N sum_i (log sum_k exp s_ik - s_i,y_i)`. */
  loss: number;
  /** Share of images whose argmax logit is their label. */
  accuracy: number;
}

/** Checks that `data` is examples of `inputShape` with one label below `numClasses` each. */
export function checkValidationData(data: ValidationData, inputShape: readonly number[], numClasses: number, where: string): void {
  if (data.inputs.shape.join('x') !== inputShape.join('x')) {
    throw new KdqError('E_INTERNAL', `${where}: validation examples are [${data.inputs.shape.join(', ')}], training examples [${inputShape.join(', ')}]`);
  }
  const n = data.inputs.count;
  if (n !== data.labels.length) {
    throw new KdqError('E_DATA', `${where}: ${n} validation images but ${data.labels.length} labels; the image and label files must match`);
  }
  if (n === 0) throw new KdqError('E_CONFIG', `${where}: the validation split holds no image; raise data.validationSplit or data.trainLimit`);
  for (let i = 0; i < n; i++) {
    if (data.labels[i] >= numClasses) {
      throw new KdqError('E_DATA', `${where}: label ${data.labels[i]} of validation image ${i} is not below the ${numClasses} classes; check the label file`);
    }
  }
}

/**
 * Cross-entropy and accuracy from logits (n x numClasses), summed in float64 in image order: the
 * same numbers on every run, whatever reduction order a backend's kernels use.
 */
export function lossAndAccuracy(logits: Float32Array, labels: ArrayLike<number>, numClasses: number): ValidationResult {
  const n = labels.length;
  const predicted = argmaxRows(logits, numClasses);
  let lossSum = 0;
  let hits = 0;
  for (let i = 0; i < n; i++) {
    const row = logits.subarray(i * numClasses, (i + 1) * numClasses);
    let max = -Infinity;
    for (let k = 0; k < numClasses; k++) max = Math.max(max, row[k]);
    let sum = 0;
    for (let k = 0; k < numClasses; k++) sum += Math.exp(row[k] - max);
    lossSum += max + Math.log(sum) - row[labels[i]];
    if (predicted[i] === labels[i]) hits++;
  }
  return { loss: lossSum / n, accuracy: hits / n };
}

/** The model's validation loss and accuracy (inference mode: no dropout, batch norm's moving statistics). */
export function validate(model: tf.LayersModel, data: ValidationData, numClasses: number): ValidationResult {
  return lossAndAccuracy(predictLogits(model, data.inputs), data.labels, numClasses);
}
