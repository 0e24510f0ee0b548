/**
 * Learning-rate schedules (`training.schedule`), one rate per epoch: the rate is set at the start
 * of an epoch and every step of it uses that rate. Per epoch rather than per step so that the
 * rate an epoch trained at is one number the history records, the same whatever the batch size
 * or thread count (Keras' LearningRateScheduler callback works per epoch too).
 */
import type { TrainingConfig } from '../config/types.ts';

/**
 * The learning rate of 0-based epoch `epoch` of `config.epochs`:
 * - no schedule (`constant`): `learningRate`;
 * - `step`: `learningRate * factor^floor(epoch / every)`;
 * - `cosine`: `learningRate * (epoch + 1) / warmupEpochs` while epoch < warmupEpochs, then
 *   `min + (learningRate - min) * (1 + cos(pi * (epoch - W) / (epochs - W))) / 2` with W = warmupEpochs,
 *   min = minLearningRate: the full rate at the first epoch after warm-up, falling towards min,
 *   which the epoch after the last would reach.
 */
export function learningRateAt(config: Pick<TrainingConfig, 'learningRate' | 'epochs' | 'schedule'>, epoch: number): number {
  const lr = config.learningRate;
  const s = config.schedule;
  if (s === undefined) return lr;
  if (s.type === 'step') return lr * s.factor ** Math.floor(epoch / s.every);
  const w = s.warmupEpochs;
  if (epoch < w) return (lr * (epoch + 1)) / w;
  const progress = (epoch - w) / Math.max(1, config.epochs - w);
  return s.minLearningRate + ((lr - s.minLearningRate) * (1 + Math.cos(Math.PI * progress))) / 2;
}
