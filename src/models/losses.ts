/**
 * Training losses on logits. Every term is computed from logSoftmax (x - max - log sum exp), never
 * from log(softmax(x)), so large logits neither overflow nor take log(0).
 *
 * kdq's soft labels are the teacher's LOGITS t; the notebook kdq grew from divided probabilities
 * by T and softmaxed them again, and had no T^2 factor. Both mistakes are fixed here.
 */
import * as tf from '@tensorflow/tfjs';
import type { DistillationConfig } from '../config/types.ts';
import type { KdLoss } from '../names.ts';

/**
 * Cross-entropy of one-hot labels y against softmax(s), averaged over the batch:
 * `CE = -1/N sum_i sum_k y_ik log softmax(s_i)_k`. Its gradient is (softmax(s) - y) / N.
 *
 * With label smoothing eps (`training.labelSmoothing`, Szegedy et al. 2016) the targets are
 * y' = (1 - eps) y + eps / K over K classes, so
 * `CE_eps = (1 - eps) CE - eps/N sum_i mean_k log softmax(s_i)_k`; its gradient is (softmax(s) - y') / N.
 *
 * ```yaml
 * training: { labelSmoothing: 0.1 }
 * ```
 */
export function crossEntropyFromLogits(oneHot: tf.Tensor2D, logits: tf.Tensor2D, labelSmoothing = 0): tf.Scalar {
  return tf.tidy(() => {
    const k = oneHot.shape[1];
    const targets = labelSmoothing > 0 ? tf.add(tf.mul(oneHot, 1 - labelSmoothing), labelSmoothing / k) : oneHot;
    return tf.neg(tf.mean(tf.sum(tf.mul(targets, tf.logSoftmax(logits)), 1))) as tf.Scalar;
  });
}

export interface SoftTermArgs {
  /** Student logits s, [N, C]. */
  student: tf.Tensor2D;
  /** Teacher logits t, [N, C]. */
  teacher: tf.Tensor2D;
  temperature: number;
  /** `kl` only: multiply by T^2. */
  temperatureSquared: boolean;
  /** `kl` only: the teacher's softTargets at this temperature, computed once for all epochs (else from `teacher`). */
  targets?: SoftTargets;
}

/** What the `kl` term takes from the teacher: log softmax(t/T) and softmax(t/T), [N, C] each. */
export interface SoftTargets {
  logP: tf.Tensor2D;
  p: tf.Tensor2D;
}

/**
 * The teacher's side of the `kl` term. It depends on no weight, so a trainer can compute it once
 * per example instead of every step (train/shard.ts): each row comes out the same whatever rows
 * are computed with it (elementwise kernels and sums along a row).
 */
export function softTargets(teacher: tf.Tensor2D, temperature: number): SoftTargets {
  return tf.tidy(() => {
    const logP = tf.logSoftmax(tf.div(teacher, temperature)) as tf.Tensor2D;
    return { logP, p: tf.exp(logP) as tf.Tensor2D };
  });
}

export type SoftTerm = (args: SoftTermArgs) => tf.Scalar;

/** The soft (teacher-matching) terms, one per name of KD_LOSSES. */
export const SOFT_LOSS_REGISTRY: Record<KdLoss, SoftTerm> = {
  /**
   * `kl`: `T^2 * 1/N sum_i KL(softmax(t_i/T) || softmax(s_i/T))`, with
   * `KL(p || q) = sum_k p_k (log p_k - log q_k)`. The T^2 (Hinton et al. 2015, switchable with
   * `temperatureSquared`) undoes the 1/T^2 by which softening shrinks the gradient, so the soft
   * term keeps its weight relative to the hard term as T changes:
   * d/ds_ik = T (softmax(s_i/T)_k - softmax(t_i/T)_k) / N, which tends to
   * ((s_ik - t_ik) - mean_k(s_i - t_i)) / (N C) for large T; without T^2 it is 1/T^2 of that.
   *
   * ```yaml
   * distillation: { loss: kl, temperature: 4, hardWeight: 0.1, softWeight: 0.9, temperatureSquared: true }
   * ```
   */
  kl: ({ student, teacher, temperature, temperatureSquared, targets }) =>
    tf.tidy(() => {
      const { logP, p } = targets ?? softTargets(teacher, temperature);
      const logQ = tf.logSoftmax(tf.div(student, temperature));
      const kl = tf.mean(tf.sum(tf.mul(p, tf.sub(logP, logQ)), 1));
      return (temperatureSquared ? tf.mul(kl, temperature * temperature) : kl) as tf.Scalar;
    }),
  /**
   * `mse`: `1/(N C) sum_ik (s_ik - t_ik)^2` on raw logits (Ba & Caruana 2014); the temperature does
   * not apply. d/ds_ik = 2 (s_ik - t_ik) / (N C).
   *
   * ```yaml
   * distillation: { loss: mse, hardWeight: 0.5, softWeight: 0.5 }
   * ```
   */
  mse: ({ student, teacher }) => tf.tidy(() => tf.mean(tf.squaredDifference(student, teacher))),
};

/**
 * The knowledge-distillation loss, averaged over the batch:
 * `loss = hardWeight * CE(y, softmax(s)) + softWeight * soft(s, t)` where `soft` is
 * `T^2 * KL(softmax(t/T) || softmax(s/T))` (`kl`, T^2 switchable) or `mse(s, t)` on logits (`mse`).
 * Label smoothing applies to the hard term only: the teacher's soft targets are already soft.
 */
export function distillationLoss(args: {
  studentLogits: tf.Tensor2D;
  teacherLogits: tf.Tensor2D;
  /** One-hot labels y, [N, C]. */
  oneHot: tf.Tensor2D;
  config: Pick<DistillationConfig, 'temperature' | 'hardWeight' | 'softWeight' | 'loss' | 'temperatureSquared'>;
  /** Label smoothing of the hard term (0 or absent: none). */
  labelSmoothing?: number;
  /** The teacher's softTargets at config.temperature, when computed beforehand (`kl`). */
  targets?: SoftTargets;
}): tf.Scalar {
  const { studentLogits, teacherLogits, oneHot, config } = args;
  return tf.tidy(() => {
    const hard = crossEntropyFromLogits(oneHot, studentLogits, args.labelSmoothing ?? 0);
    const soft = SOFT_LOSS_REGISTRY[config.loss]({
      student: studentLogits,
      teacher: teacherLogits,
      temperature: config.temperature,
      temperatureSquared: config.temperatureSquared,
      ...(args.targets ? { targets: args.targets } : {}),
    });
    return tf.add(tf.mul(hard, config.hardWeight), tf.mul(soft, config.softWeight));
  });
}
