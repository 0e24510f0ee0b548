/**
 * Optimizers by name. A `Record` over `OptimizerName`, so a name added to src/names.ts without a
 * factory here fails to compile. Hyper-parameters other than the learning rate (and sgd's
 * momentum) are Keras' defaults, so a notebook's settings mean the same thing here.
 */
import * as tf from '@tensorflow/tfjs';
import type { TrainingConfig } from '../config/types.ts';
import { fastAdam } from '../backend/fast-adam.ts';
import type { OptimizerName } from '../names.ts';

export type OptimizerFactory = (config: Pick<TrainingConfig, 'learningRate' | 'momentum'>) => tf.Optimizer;

export const OPTIMIZER_REGISTRY: Record<OptimizerName, OptimizerFactory> = {
  // tf.js' Adam, with each variable's update done in one kernel on wasm (src/backend/fast-adam.ts).
  adam: ({ learningRate }) => fastAdam(learningRate, 0.9, 0.999, 1e-7),
  // Plain SGD when momentum is 0: tf.js's momentum optimizer would keep a useless accumulator.
  sgd: ({ learningRate, momentum }) => (momentum > 0 ? tf.train.momentum(learningRate, momentum) : tf.train.sgd(learningRate)),
  rmsprop: ({ learningRate }) => tf.train.rmsprop(learningRate, 0.9, 0, 1e-7),
};

/** A fresh optimizer for `config`; the caller disposes it (model.dispose() does not). */
export function createOptimizer(config: Pick<TrainingConfig, 'optimizer' | 'learningRate' | 'momentum'>): tf.Optimizer {
  return OPTIMIZER_REGISTRY[config.optimizer](config);
}

/**
 * Changes the learning rate of a live optimizer, keeping its state (moments, accumulators). sgd
 * and momentum hold it as a tensor that `setLearningRate` replaces; adam and rmsprop read the
 * (TypeScript-protected) field on every update.
 */
export function setLearningRate(optimizer: tf.Optimizer, learningRate: number): void {
  // Not `instanceof tf.SGDOptimizer`: tf.js optimizers answer instanceof by duck typing, true for all of them.
  const o = optimizer as unknown as { learningRate: number; setLearningRate?: (lr: number) => void };
  if (typeof o.setLearningRate === 'function') o.setLearningRate(learningRate);
  else o.learningRate = learningRate;
}

/** The learning rate `optimizer` updates with now. */
export function learningRateOf(optimizer: tf.Optimizer): number {
  return (optimizer as unknown as { learningRate: number }).learningRate;
}
