/**
 * ResNet-8 of MLPerf Tiny's image-classification benchmark, for the bench suite only.
 *
 * TEMPORARY: kdq's YAML describes a plain stack of layers and cannot express the residual graph
 * yet, so this one network is built with tf.js' functional API here. When layer graphs exist in
 * the experiment file, replace this file by a YAML model in bench/shapes.ts and delete it.
 *
 * Structure (Keras' reference model): conv 3x3/16 + BN + relu, then three stacks of 16, 32 and 64
 * filters. Each stack is conv 3x3 (stride 1 in the first stack, 2 after) + BN + relu, conv 3x3 +
 * BN, added to the stack's input (through a 1x1 convolution of the same stride when the shape
 * changes), then relu. Then average pooling over the whole 8x8 map, flatten and dense 10 (logits).
 * Convolutions use `same` padding and bias, as the reference does; its L2 weight decay is left
 * out, since the bench measures speed.
 */
import * as tf from '@tensorflow/tfjs';
import type { LayerSpec } from '../src/config/types.ts';
import { LAYER_REGISTRY, type LayerFactory } from '../src/models/layer-registry.ts';
import { deriveSeed } from '../src/util/random.ts';

/**
 * Builds ResNet-8 for `inputShape` ([32, 32, 3] in MLPerf Tiny) with seeded initializers. Every
 * layer comes from kdq's own layer registry, as a YAML model's layers would.
 */
export function buildResnet8(inputShape: [number, number, number], classes: number, seed: number): tf.LayersModel {
  let index = 0;
  const layer = (spec: LayerSpec): tf.layers.Layer => {
    const name = `resnet8_${index++}_${spec.type}`;
    const make = LAYER_REGISTRY[spec.type] as LayerFactory<LayerSpec['type']>;
    return make(spec as never, { name, seed: deriveSeed(seed, name) });
  };
  const apply = (spec: LayerSpec, x: tf.SymbolicTensor | tf.SymbolicTensor[]) => layer(spec).apply(x) as tf.SymbolicTensor;
  const conv = (x: tf.SymbolicTensor, filters: number, kernelSize: number, strides: number) =>
    apply({ type: 'conv2d', filters, kernelSize, strides, padding: 'same', activation: 'linear', useBias: true, kernelInitializer: 'heNormal' }, x);
  const bn = (x: tf.SymbolicTensor) => apply({ type: 'batchNormalization', momentum: 0.99, epsilon: 0.001 }, x);
  const relu = (x: tf.SymbolicTensor) => apply({ type: 'activation', activation: 'relu' }, x);

  const input = tf.input({ shape: inputShape, name: 'resnet8_input' });
  let x = relu(bn(conv(input, 16, 3, 1)));
  for (const [filters, stride] of [
    [16, 1],
    [32, 2],
    [64, 2],
  ] as const) {
    let y = relu(bn(conv(x, filters, 3, stride)));
    y = bn(conv(y, filters, 3, 1));
    const shortcut = stride === 1 ? x : conv(x, filters, 1, stride);
    x = relu(tf.layers.add({ name: `resnet8_${index++}_add` }).apply([shortcut, y]) as tf.SymbolicTensor);
  }
  const size = x.shape[1] as number;
  x = apply({ type: 'averagePooling2d', poolSize: size, strides: size, padding: 'valid' }, x);
  x = apply({ type: 'flatten' }, x);
  const logits = apply({ type: 'dense', units: classes, activation: 'linear', useBias: true, kernelInitializer: 'glorotUniform' }, x);
  return tf.model({ inputs: input, outputs: logits, name: 'resnet8' });
}
