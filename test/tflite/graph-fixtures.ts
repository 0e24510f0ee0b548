/**
 * Branched tf.js models for the export tests, on the synthetic task of export-fixtures.ts: one
 * residual network with batch norms everywhere networks put them, one that concatenates.
 */
import * as tf from '@tensorflow/tfjs';
import { CLASSES, SIDE } from './export-fixtures.ts';

const init = (seed: number) => tf.initializers.glorotUniform({ seed });

/** A batch norm with non-trivial statistics (fresh ones fold to the identity and test nothing). */
function bn(seed: number, name?: string): tf.layers.Layer {
  return tf.layers.batchNormalization({
    ...(name ? { name } : {}),
    movingMeanInitializer: tf.initializers.randomUniform({ minval: -0.2, maxval: 0.2, seed }),
    movingVarianceInitializer: tf.initializers.randomUniform({ minval: 0.5, maxval: 2, seed: seed + 1 }),
    gammaInitializer: tf.initializers.randomUniform({ minval: 0.5, maxval: 1.5, seed: seed + 2 }),
    betaInitializer: tf.initializers.randomUniform({ minval: -0.3, maxval: 0.3, seed: seed + 3 }),
  });
}

const apply = (layer: tf.layers.Layer, x: tf.SymbolicTensor | tf.SymbolicTensor[]) => layer.apply(x) as tf.SymbolicTensor;
const conv = (filters: number, seed: number, extra: Partial<Parameters<typeof tf.layers.conv2d>[0]> = {}) =>
  tf.layers.conv2d({ filters, kernelSize: 3, padding: 'same', kernelInitializer: init(seed), ...extra });

/**
 * stem: conv > BN (folded) > relu (fused). Block 1: conv relu > BN (after relu: MUL, ADD) > conv > BN
 * (folded) > add with the stem > relu (fused into the ADD). Block 2: strided conv > conv > BN,
 * a strided 1x1 shortcut, their add, a BN on the sum (after an add: MUL, ADD) > relu, and a
 * three-input add. Head: average pooling, flatten, dense.
 */
export function residualModel(): tf.LayersModel {
  const x = tf.input({ shape: [SIDE, SIDE, 1], name: 'res_input' });
  const stem = apply(tf.layers.activation({ activation: 'relu' }), apply(bn(20), apply(conv(8, 21), x)));
  let y = apply(conv(8, 22, { activation: 'relu' }), stem);
  y = apply(bn(23), y);
  y = apply(bn(24), apply(conv(8, 25), y));
  const s1 = apply(tf.layers.activation({ activation: 'relu' }), apply(tf.layers.add(), [stem, y]));
  let z = apply(conv(16, 26, { strides: 2, activation: 'relu' }), s1);
  z = apply(bn(27), apply(conv(16, 28), z));
  const short = apply(conv(16, 29, { kernelSize: 1, strides: 2 }), s1);
  const sum = apply(tf.layers.add(), [short, z]);
  const normed = apply(tf.layers.activation({ activation: 'relu' }), apply(bn(30), sum));
  const three = apply(tf.layers.add(), [normed, sum, short]);
  // Average pooling and flatten keep where the patch was (the synthetic task's class).
  const pooled = apply(tf.layers.flatten(), apply(tf.layers.averagePooling2d({ poolSize: 2 }), three));
  const out = apply(tf.layers.dense({ units: CLASSES, kernelInitializer: init(31) }), pooled);
  return tf.model({ inputs: x, outputs: out });
}

/**
 * Concatenations whose inputs come from everywhere: two convs (free to take the concatenation's
 * parameters), the model's input and a pool of one of the convs (requantized or inheriting), and a
 * second concatenation of the first, a conv already given the first's parameters and a linear conv
 * whose negative outputs widen the second's range.
 */
export function concatModel(): tf.LayersModel {
  const x = tf.input({ shape: [SIDE, SIDE, 1], name: 'cat_input' });
  // Positive weights: outputs up to about 4, a wider range than the input's [0, 1].
  const a = apply(conv(6, 41, { activation: 'relu', kernelInitializer: tf.initializers.randomUniform({ minval: 0, maxval: 0.5, seed: 41 }) }), x);
  const pooled = apply(tf.layers.maxPooling2d({ poolSize: 2, strides: 1, padding: 'same' }), a);
  const b = apply(conv(4, 42, { kernelSize: 1, activation: 'relu' }), x);
  const cat = apply(tf.layers.concatenate({ axis: -1 }), [a, b, x, pooled]);
  const wide = apply(conv(5, 45, { kernelSize: 3 }), x);
  const cat2 = apply(tf.layers.concatenate({ axis: -1 }), [cat, b, wide]);
  const c = apply(conv(8, 43, { strides: 2, activation: 'relu' }), cat2);
  const flat = apply(tf.layers.flatten(), apply(tf.layers.maxPooling2d({ poolSize: 2 }), c));
  const out = apply(tf.layers.dense({ units: CLASSES, kernelInitializer: init(44) }), flat);
  return tf.model({ inputs: x, outputs: out });
}
