/**
 * An Adam optimizer that does each variable's update in one kernel on wasm (see
 * wasm-kernels/adam-update.ts) and is tf.js' own AdamOptimizer on every other backend. It keeps
 * AdamOptimizer's state (moments, accumulated betas, iterations), so getWeights/setWeights and
 * `minimize` work unchanged; results match tf.train.adam to float32 rounding.
 */
import * as tf from '@tensorflow/tfjs';
import { ADAM_UPDATE, type AdamUpdateAttrs } from './wasm-kernels/adam-update.ts';

/** AdamOptimizer's fields this class reads; they are TypeScript-private in tf.js. */
interface AdamState {
  accumulatedFirstMoment: ({ originalName: string; variable: tf.Variable } | undefined)[];
  accumulatedSecondMoment: ({ originalName: string; variable: tf.Variable } | undefined)[];
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
}

type VariableGradients = Parameters<tf.AdamOptimizer['applyGradients']>[0];

export class FastAdamOptimizer extends tf.AdamOptimizer {
  override applyGradients(variableGradients: VariableGradients): void {
    if (tf.getBackend() !== 'wasm' || tf.getKernel(ADAM_UPDATE, 'wasm') === undefined) {
      super.applyGradients(variableGradients);
      return;
    }
    const self = this as unknown as AdamState;
    const names = Array.isArray(variableGradients) ? variableGradients.map((v) => v.name) : Object.keys(variableGradients);
    // Read the accumulated betas as float32, exactly as the stock optimizer uses them.
    const c1 = 1 - self.accBeta1.dataSync()[0];
    const c2 = 1 - self.accBeta2.dataSync()[0];
    const attrs: AdamUpdateAttrs = { learningRate: this.learningRate, beta1: this.beta1, beta2: this.beta2, epsilon: this.epsilon, c1, c2 };
    tf.tidy(() => {
      names.forEach((name, i) => {
        const value = tf.engine().registeredVariables[name];
        self.accumulatedFirstMoment[i] ??= { originalName: `${name}/m`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
        self.accumulatedSecondMoment[i] ??= { originalName: `${name}/v`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
        const gradient = Array.isArray(variableGradients) ? variableGradients[i].tensor : variableGradients[name];
        if (gradient === null || gradient === undefined) return;
        const m = self.accumulatedFirstMoment[i]!.variable;
        const v = self.accumulatedSecondMoment[i]!.variable;
        const [w2, m2, v2] = tf.engine().runKernel(ADAM_UPDATE, { value, gradient, m, v }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
        m.assign(m2);
        v.assign(v2);
        value.assign(w2);
      });
      self.accBeta1.assign(tf.mul(self.accBeta1, this.beta1));
      self.accBeta2.assign(tf.mul(self.accBeta2, this.beta2));
    });
    this.incrementIterations();
  }
}

/** Drop-in for `tf.train.adam` (same defaults: beta1 0.9, beta2 0.999, the backend's epsilon). */
export function fastAdam(learningRate = 0.001, beta1 = 0.9, beta2 = 0.999, epsilon?: number): FastAdamOptimizer {
  return new FastAdamOptimizer(learningRate, beta1, beta2, epsilon);
}
