/**
 * One factory per layer kind of src/names.ts. The registry is a mapped type over `LayerType`, so a
 * kind added to LAYER_TYPES without a factory here fails to compile, and each factory receives the
 * exact spec type of its kind.
 */
import * as tf from '@tensorflow/tfjs';
import type { LayerSpec } from '../config/types.ts';
import type { Activation, Initializer, LayerType } from '../names.ts';
import { ACTIVATION_REGISTRY } from './activations.ts';
import { fuseBatchNormForTraining, fuseForTraining, fuseReluActivation } from './fused-layers.ts';
import { SeededDropout } from './seeded-dropout.ts';

/** What a factory needs besides the spec. */
export interface LayerContext {
  /** Deterministic layer name, `<role>_<index>_<type>`. */
  name: string;
  /** Seed of this layer's initializers (or dropout masks), already derived for this layer. */
  seed: number;
  /** Set for the first layer of a sequential model only: the [h, w, c] of one input image. */
  inputShape?: number[];
}

/** The spec type of one layer kind (pooling specs share one interface for two kinds). */
export type SpecOf<K extends LayerType> = LayerSpec extends infer S ? (S extends LayerSpec ? (K extends S['type'] ? S : never) : never) : never;

export type LayerFactory<K extends LayerType> = (spec: SpecOf<K>, ctx: LayerContext) => tf.layers.Layer;

type TfInitializer = ReturnType<typeof tf.initializers.glorotUniform>;

/** tf.js' seeded initializer of each kdq name but `auto`. */
const INITIALIZER_REGISTRY: Record<Exclude<Initializer, 'auto'>, (seed: number) => TfInitializer> = {
  glorotUniform: (seed) => tf.initializers.glorotUniform({ seed }),
  glorotNormal: (seed) => tf.initializers.glorotNormal({ seed }),
  heNormal: (seed) => tf.initializers.heNormal({ seed }),
  heUniform: (seed) => tf.initializers.heUniform({ seed }),
};

/** The layer's seeded kernel initializer: its own choice, or (`auto`) the one suited to its activation. */
function kernelInitializer(spec: { activation: Activation; kernelInitializer?: Exclude<Initializer, 'auto'> }, seed: number): TfInitializer {
  return INITIALIZER_REGISTRY[spec.kernelInitializer ?? ACTIVATION_REGISTRY[spec.activation].initializer](seed);
}

function pooling(spec: SpecOf<'maxPooling2d' | 'averagePooling2d'>, ctx: LayerContext) {
  const args = {
    name: ctx.name,
    inputShape: ctx.inputShape,
    poolSize: spec.poolSize,
    strides: spec.strides ?? spec.poolSize,
    padding: spec.padding,
  };
  return spec.type === 'maxPooling2d' ? tf.layers.maxPooling2d(args) : tf.layers.averagePooling2d(args);
}

export const LAYER_REGISTRY: { [K in LayerType]: LayerFactory<K> } = {
  conv2d: (spec, ctx) =>
    fuseForTraining(
      tf.layers.conv2d({
        name: ctx.name,
        inputShape: ctx.inputShape,
        filters: spec.filters,
        kernelSize: spec.kernelSize,
        strides: spec.strides,
        padding: spec.padding,
        activation: ACTIVATION_REGISTRY[spec.activation].tfjs,
        useBias: spec.useBias,
        kernelInitializer: kernelInitializer(spec, ctx.seed),
        biasInitializer: 'zeros',
      }),
      'conv2d',
    ),
  depthwiseConv2d: (spec, ctx) =>
    tf.layers.depthwiseConv2d({
      name: ctx.name,
      inputShape: ctx.inputShape,
      kernelSize: spec.kernelSize,
      depthMultiplier: spec.depthMultiplier,
      strides: spec.strides,
      padding: spec.padding,
      activation: ACTIVATION_REGISTRY[spec.activation].tfjs,
      useBias: spec.useBias,
      depthwiseInitializer: kernelInitializer(spec, ctx.seed),
      biasInitializer: 'zeros',
    }),
  maxPooling2d: pooling,
  averagePooling2d: pooling,
  globalAveragePooling2d: (_spec, ctx) => tf.layers.globalAveragePooling2d({ name: ctx.name, inputShape: ctx.inputShape }),
  flatten: (_spec, ctx) => tf.layers.flatten({ name: ctx.name, inputShape: ctx.inputShape }),
  dense: (spec, ctx) =>
    fuseForTraining(
      tf.layers.dense({
        name: ctx.name,
        inputShape: ctx.inputShape,
        units: spec.units,
        activation: ACTIVATION_REGISTRY[spec.activation].tfjs,
        useBias: spec.useBias,
        kernelInitializer: kernelInitializer(spec, ctx.seed),
        biasInitializer: 'zeros',
      }),
      'dense',
    ),
  dropout: (spec, ctx) => new SeededDropout({ name: ctx.name, inputShape: ctx.inputShape, rate: spec.rate, seed: ctx.seed }),
  batchNormalization: (spec, ctx) =>
    fuseBatchNormForTraining(
      tf.layers.batchNormalization({
        name: ctx.name,
        inputShape: ctx.inputShape,
        momentum: spec.momentum,
        epsilon: spec.epsilon,
      }),
    ),
  activation: (spec, ctx) =>
    fuseReluActivation(
      tf.layers.activation({
        name: ctx.name,
        inputShape: ctx.inputShape,
        activation: ACTIVATION_REGISTRY[spec.activation].tfjs,
      }),
    ),
  // The builder applies these to the layers their `inputs` name (see build.ts).
  add: (_spec, ctx) => tf.layers.add({ name: ctx.name }),
  concatenate: (_spec, ctx) => tf.layers.concatenate({ name: ctx.name, axis: -1 }),
};
