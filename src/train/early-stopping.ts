/**
 * Early stopping (`training.earlyStopping`): watches the validation loss or accuracy epoch after
 * epoch, keeps a copy of the weights of the best epoch, and says when `patience` epochs in a row
 * have not improved on it by more than `minDelta`. The training loop restores the best weights at
 * the end, whether it stopped early or ran out of epochs, so a stage's weights are always those
 * of its best validated epoch.
 */
import * as tf from '@tensorflow/tfjs';
import type { EarlyStoppingConfig } from '../config/types.ts';
import type { ValidationResult } from './validation.ts';

/** What early stopping did, as the training history records it. */
export interface EarlyStoppingOutcome {
  monitor: EarlyStoppingConfig['monitor'];
  /** 1-based epoch whose weights the model ends with. */
  bestEpoch: number;
  /** The monitored value at that epoch. */
  best: number;
  /** True when training stopped before its last epoch. */
  stopped: boolean;
}

/** Every weight of a model (trainable or not: batch norm's moving statistics too), copied out. */
export interface WeightSnapshot {
  values: Float32Array[];
  shapes: number[][];
}

export function snapshotWeights(model: tf.LayersModel): WeightSnapshot {
  const ws = model.getWeights();
  return { values: ws.map((w) => (w.dataSync() as Float32Array).slice()), shapes: ws.map((w) => [...w.shape]) };
}

export function restoreWeights(model: tf.LayersModel, s: WeightSnapshot): void {
  const tensors = s.values.map((v, i) => tf.tensor(v, s.shapes[i], 'float32'));
  try {
    model.setWeights(tensors);
  } finally {
    tf.dispose(tensors);
  }
}

export class EarlyStopping {
  private best = NaN;
  private bestEpoch = 0;
  private wait = 0;
  private weights: WeightSnapshot | null = null;

  constructor(private readonly config: EarlyStoppingConfig) {}

  /** The monitored value of an epoch's validation. */
  value(v: ValidationResult): number {
    return this.config.monitor === 'val_loss' ? v.loss : v.accuracy;
  }

  /** Whether `value` beats the best so far by more than minDelta (the first finite value always does). */
  improves(value: number): boolean {
    if (!Number.isFinite(value)) return false;
    if (this.bestEpoch === 0) return true;
    return this.config.monitor === 'val_loss' ? value < this.best - this.config.minDelta : value > this.best + this.config.minDelta;
  }

  /**
   * Records 1-based epoch `epoch` of `model` with validation `v` (copying the weights when it is
   * the best so far) and returns true when training should stop now.
   */
  update(epoch: number, v: ValidationResult, model: tf.LayersModel): boolean {
    const value = this.value(v);
    if (this.improves(value)) {
      this.best = value;
      this.bestEpoch = epoch;
      this.wait = 0;
      this.weights = snapshotWeights(model);
      return false;
    }
    this.wait++;
    return this.wait >= this.config.patience;
  }

  /** Puts the best epoch's weights back into `model`; returns what happened, or null when no epoch was validated. */
  finish(model: tf.LayersModel, stopped: boolean): EarlyStoppingOutcome | null {
    if (this.weights === null) return null;
    restoreWeights(model, this.weights);
    this.weights = null;
    return { monitor: this.config.monitor, bestEpoch: this.bestEpoch, best: this.best, stopped };
  }
}
