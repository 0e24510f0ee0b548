/**
 * What one training step does with a batch's gradients, identically on every thread (the
 * single-thread stepper and every data-parallel replica each hold one): clip them to
 * `clipNorm`, decay the weights (`weightDecay`), then the optimizer's update at the epoch's
 * scheduled learning rate (`schedule`). Every input is the step's summed gradients and the
 * config, so replicas that start identical stay identical.
 */
import * as tf from '@tensorflow/tfjs';
import type { TrainingConfig } from '../config/types.ts';
import { createOptimizer, setLearningRate } from './optimizers.ts';
import { learningRateAt } from './schedule.ts';

export type UpdateRuleConfig = Pick<TrainingConfig, 'optimizer' | 'learningRate' | 'momentum' | 'epochs' | 'schedule' | 'weightDecay' | 'clipNorm'>;

/** What applies a step's gradients: an UpdateRule, or a bare tf.js optimizer. */
export type GradientApplier = Pick<tf.Optimizer, 'applyGradients'>;

/**
 * The weights weight decay shrinks: weight matrices and convolution kernels (rank >= 2). Biases
 * and batch normalization's gamma and beta are vectors (rank 1): decaying them restrains nothing
 * that overfits (a bias shifts, a gamma rescales what batch norm just normalised), which is why
 * common AdamW recipes (timm's, for one) exclude them; the rank rule needs no layer names.
 */
export function decayedVariables(vars: readonly tf.Variable[]): tf.Variable[] {
  return vars.filter((v) => v.shape.length >= 2);
}

/**
 * Global L2 norm of a step's gradients, sqrt(sum over every variable and element of g^2), summed
 * in float64 in `vars` order: a number that is the same on every thread given the same gradients.
 */
export function globalNorm(grads: tf.NamedTensorMap, vars: readonly tf.Variable[]): number {
  let sum = 0;
  for (const v of vars) {
    const g = grads[v.name];
    if (!g) continue;
    const values = g.dataSync() as Float32Array;
    for (let i = 0; i < values.length; i++) sum += values[i] * values[i];
  }
  return Math.sqrt(sum);
}

export class UpdateRule implements GradientApplier {
  readonly optimizer: tf.Optimizer;
  private rate: number;
  private readonly decayed: tf.Variable[];
  /** The global norm of the last step's gradients before clipping (NaN before the first step or without clipNorm). */
  lastNorm = NaN;

  constructor(
    private readonly config: UpdateRuleConfig,
    private readonly vars: readonly tf.Variable[],
  ) {
    this.optimizer = createOptimizer(config);
    this.rate = config.learningRate;
    this.decayed = config.weightDecay ? decayedVariables(vars) : [];
  }

  /** The learning rate the next update uses. */
  get learningRate(): number {
    return this.rate;
  }

  /** Sets the learning rate of 0-based epoch `epoch` and returns it. */
  startEpoch(epoch: number): number {
    const lr = learningRateAt(this.config, epoch);
    if (lr !== this.rate) {
      setLearningRate(this.optimizer, lr);
      this.rate = lr;
    }
    return lr;
  }

  /** One update from `grads` (variable name -> gradient); the caller keeps and disposes `grads`. */
  applyGradients(grads: Parameters<tf.Optimizer['applyGradients']>[0]): void {
    const named = Array.isArray(grads) ? Object.fromEntries(grads.map((g) => [g.name, g.tensor])) : grads;
    const clipped = this.clip(named);
    try {
      const { weightDecay } = this.config;
      if (weightDecay) {
        // Decoupled (Loshchilov & Hutter; PyTorch's AdamW): w <- w (1 - lr wd), before and apart
        // from the optimizer's update, which then reads the decayed value.
        const keep = 1 - this.rate * weightDecay;
        tf.tidy(() => {
          for (const v of this.decayed) v.assign(tf.mul(v, keep));
        });
      }
      this.optimizer.applyGradients(clipped ?? named);
    } finally {
      if (clipped) tf.dispose(Object.values(clipped));
    }
  }

  /** Gradients scaled by clipNorm / norm when their global norm exceeds clipNorm; null when left as they are. */
  private clip(grads: tf.NamedTensorMap): tf.NamedTensorMap | null {
    const { clipNorm } = this.config;
    if (clipNorm === undefined) return null;
    const norm = globalNorm(grads, this.vars);
    this.lastNorm = norm;
    // A non-finite norm is left alone: the loss check reports the divergence at its step.
    if (!(norm > clipNorm) || !Number.isFinite(norm)) return null;
    const scale = clipNorm / norm;
    return tf.tidy(() => Object.fromEntries(Object.entries(grads).map(([name, g]) => [name, tf.keep(tf.mul(g, scale))])));
  }

  dispose(): void {
    this.optimizer.dispose();
  }
}
