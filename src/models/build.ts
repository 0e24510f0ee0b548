/**
 * Layer specs -> a tf.js model that outputs logits: a tf.sequential when each layer reads the one
 * before it, a functional model when `inputs`, `add` or `concatenate` make branches. Initial weights depend only on the seed: every
 * layer's initializers (and dropout masks) get their own seed, derived from the model seed and the
 * layer's index, so the same seed gives bit-identical weights and editing one layer leaves the
 * others' initial weights unchanged.
 */
import * as tf from '@tensorflow/tfjs';
import type { LayerSpec } from '../config/types.ts';
import { KdqError } from '../errors.ts';
import type { LayerType } from '../names.ts';
import { deriveSeed } from '../util/random.ts';
import { fuseConvPool } from './fused-layers.ts';
import { LAYER_REGISTRY, type LayerContext, type LayerFactory, type SpecOf } from './layer-registry.ts';
import { INPUT, isChain, resolveWiring } from './wiring.ts';

export { modelSummary, type ModelSummary, type LayerSummary } from './summary.ts';

export interface BuildOptions {
  /** Prefix of layer names, e.g. `teacher` gives `teacher_0_conv2d`. Default `model`. */
  role?: string;
}

function makeLayer<K extends LayerType>(spec: SpecOf<K>, ctx: LayerContext): tf.layers.Layer {
  // TypeScript cannot correlate `spec.type` with the registry key, hence the one cast.
  return (LAYER_REGISTRY[spec.type as K] as LayerFactory<K>)(spec, ctx);
}

/**
 * The specs actually built: a `softmax` activation is allowed only on the last layer and is dropped
 * there (an `activation` layer is removed, a dense/conv layer becomes linear), because kdq trains
 * on logits and every exported file appends its own softmax.
 */
export function logitSpecs(layers: LayerSpec[], role = 'model'): { spec: LayerSpec; index: number }[] {
  const out: { spec: LayerSpec; index: number }[] = [];
  layers.forEach((spec, index) => {
    const act = 'activation' in spec ? spec.activation : undefined;
    if (act !== 'softmax') {
      out.push({ spec, index });
      return;
    }
    if (index !== layers.length - 1) {
      throw new KdqError(
        'E_CONFIG',
        `${role}.layers.${index} (${spec.type}): activation 'softmax' is allowed only on the last layer, ` +
          `because kdq trains on logits; use 'relu' (or 'linear') here`,
      );
    }
    if (spec.type !== 'activation') out.push({ spec: { ...spec, activation: 'linear' } as LayerSpec, index });
  });
  return out;
}

/** Builds `layers` for examples of `inputShape` ([h, w, c] images, [f] table rows); the model's output is logits. */
export function buildModel(layers: LayerSpec[], inputShape: readonly number[], seed: number, options: BuildOptions = {}): tf.LayersModel {
  const role = options.role ?? 'model';
  const specs = logitSpecs(layers, role);
  if (specs.length === 0) {
    throw new KdqError('E_CONFIG', `${role}.layers is empty; list at least a flatten and a dense layer`);
  }
  const wiring = resolveWiring(layers);
  if (wiring.issues.length > 0) {
    const i = wiring.issues[0]!;
    throw new KdqError('E_CONFIG', `${role}.layers.${i.index}.${i.key}${i.item === undefined ? '' : `.${i.item}`}: ${i.message}`);
  }
  // A chain stays a tf.sequential, exactly as before graphs existed (same training, bit for bit).
  const model = isChain(wiring.sources) ? buildSequential(specs, inputShape, seed, role) : buildGraph(specs, wiring.sources, inputShape, seed, role);
  const outShape = model.outputs[0].shape;
  if (outShape.length !== 2) {
    model.dispose();
    throw new KdqError(
      'E_CONFIG',
      `${role}.layers must end in one logit per class, but the output has shape [${outShape
        .map((d) => d ?? 'batch')
        .join(', ')}]; end the list with flatten (or globalAveragePooling2d) and dense with units = classes`,
    );
  }
  return model;
}

/** The seeded layer of spec `index`, named `<role>_<index>_<type>`; the same in a chain and a graph. */
function layerOf(spec: LayerSpec, index: number, seed: number, role: string, inputShape?: number[]): tf.layers.Layer {
  const ctx: LayerContext = {
    name: `${role}_${index}_${spec.type}`,
    seed: deriveSeed(seed, `${role}-layer-${index}`),
    inputShape,
  };
  return makeLayer(spec as SpecOf<LayerType>, ctx);
}

function cannotBuild(role: string, spec: LayerSpec, index: number, inputShape: readonly number[], err: unknown): KdqError {
  const why = err instanceof Error ? err.message : String(err);
  return new KdqError(
    'E_CONFIG',
    `${role}.layers.${index} (${spec.type}) cannot be built on its input ` + `(input ${inputShape.join('x')}): ${why}; check its kernel/pool sizes and strides`,
    { cause: err },
  );
}

function buildSequential(specs: { spec: LayerSpec; index: number }[], inputShape: readonly number[], seed: number, role: string): tf.Sequential {
  const model = tf.sequential({ name: role });
  specs.forEach(({ spec, index }, position) => {
    try {
      model.add(layerOf(spec, index, seed, role, position === 0 ? [...inputShape] : undefined));
    } catch (err) {
      model.dispose();
      throw cannotBuild(role, spec, index, inputShape, err);
    }
  });
  // A relu convolution whose only reader is a 2x2 max pool at stride 2: one kernel each way.
  specs.forEach(({ spec }, position) => {
    const next = specs[position + 1]?.spec;
    if (model.layers.length === specs.length && isReluConv(spec) && next !== undefined && isMaxPool2x2(next)) {
      fuseConvPool(model.layers[position]!, model.layers[position + 1]!);
    }
  });
  return model;
}

function isReluConv(spec: LayerSpec): boolean {
  return spec.type === 'conv2d' && spec.activation === 'relu';
}

/** Whether `spec` is a max pooling over 2x2 windows at stride 2 without padding. */
function isMaxPool2x2(spec: LayerSpec): boolean {
  if (spec.type !== 'maxPooling2d') return false;
  const two = (v: number | [number, number] | null | undefined) => v === 2 || (Array.isArray(v) && v[0] === 2 && v[1] === 2);
  return two(spec.poolSize) && (spec.strides === undefined || spec.strides === null || two(spec.strides)) && spec.padding !== 'same';
}

/**
 * A functional model: each layer applied to the outputs of its sources. A final softmax dropped by
 * logitSpecs passes its source through, so the output is still the last layer's input.
 */
function buildGraph(
  specs: { spec: LayerSpec; index: number }[],
  sources: number[][],
  inputShape: readonly number[],
  seed: number,
  role: string,
): tf.LayersModel {
  const input = tf.input({ shape: [...inputShape], name: `${role}_input` });
  const outputs = new Map<number, tf.SymbolicTensor>([[INPUT, input]]);
  const built = new Map(specs.map((s) => [s.index, s.spec]));
  const made: tf.layers.Layer[] = [];
  const layerAt = new Map<number, tf.layers.Layer>();
  let last: tf.SymbolicTensor = input;
  sources.forEach((src, index) => {
    const ins = src.map((s) => outputs.get(s)!);
    const spec = built.get(index);
    if (spec === undefined) {
      last = ins[0]!;
    } else {
      try {
        const layer = layerOf(spec, index, seed, role);
        made.push(layer);
        layerAt.set(index, layer);
        last = layer.apply(ins.length === 1 ? ins[0]! : ins) as tf.SymbolicTensor;
      } catch (err) {
        for (const l of made) if (l.built) l.dispose();
        throw cannotBuild(role, spec, index, inputShape, err);
      }
    }
    outputs.set(index, last);
  });
  // A relu convolution whose only reader is a 2x2 max pool at stride 2, as in buildSequential:
  // read by no other layer (a dropped softmax included) and not the model's output.
  const readers = new Map<number, number>();
  for (const src of sources) for (const s of src) readers.set(s, (readers.get(s) ?? 0) + 1);
  sources.forEach((src, index) => {
    const spec = built.get(index);
    const from = src[0]!;
    const conv = built.get(from);
    if (spec === undefined || conv === undefined || src.length !== 1 || !isMaxPool2x2(spec) || !isReluConv(conv)) return;
    if (readers.get(from) === 1 && from !== sources.length - 1) fuseConvPool(layerAt.get(from)!, layerAt.get(index)!);
  });
  return tf.model({ inputs: input, outputs: last, name: role });
}
