/**
 * kdq activation names -> tf.js activation identifiers. A `Record` over `Activation`, so adding a
 * name to src/names.ts without a mapping here is a compile error.
 */
import type * as tf from '@tensorflow/tfjs';
import type { Activation } from '../names.ts';

/** tf.js's own activation identifiers (its type is not exported from the package root). */
export type TfjsActivation = Parameters<typeof tf.layers.activation>[0]['activation'];

export interface ActivationDef {
  /** The identifier tf.js layers accept as `activation:`. */
  tfjs: TfjsActivation;
  /**
   * He initialization keeps the variance of a ReLU network's activations constant with depth;
   * Glorot is the right default for the symmetric ones (and is what Keras uses everywhere).
   */
  initializer: 'heNormal' | 'glorotUniform';
}

export const ACTIVATION_REGISTRY: Record<Activation, ActivationDef> = {
  linear: { tfjs: 'linear', initializer: 'glorotUniform' },
  relu: { tfjs: 'relu', initializer: 'heNormal' },
  relu6: { tfjs: 'relu6', initializer: 'heNormal' },
  tanh: { tfjs: 'tanh', initializer: 'glorotUniform' },
  sigmoid: { tfjs: 'sigmoid', initializer: 'glorotUniform' },
  softmax: { tfjs: 'softmax', initializer: 'glorotUniform' },
};
