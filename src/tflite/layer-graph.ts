/**
 * A tf.js model's layers as a DAG in a fixed order, for the lowering: every layer that computes
 * something, the layers it reads, and how many times its output is read. A chain (tf.sequential)
 * and a functional model with branches come out in the same form.
 */
import type * as tf from '@tensorflow/tfjs';
import { KdqError } from '../errors.ts';
import { SeededDropout } from '../models/seeded-dropout.ts';

/** The model's input, as a node index. */
export const MODEL_INPUT = -1;

/** Classes that are the identity at inference: they get no node, their readers read their input. */
const IDENTITY_CLASSES = new Set(['Dropout', SeededDropout.className]);

export interface LayerNode {
  layer: tf.layers.Layer;
  /** Nodes this one reads, in the layer's input order (MODEL_INPUT for the model's input). */
  inputs: number[];
  /** How many node inputs read this node's output, plus one for the model's output. */
  uses: number;
}

export interface LayerGraph {
  /** In a topological order: a node comes after every node it reads. */
  nodes: LayerNode[];
  /** The node whose output is the model's output. */
  output: number;
}

function inboundNames(layer: tf.layers.Layer): string[] {
  if (layer.inboundNodes.length !== 1) {
    throw new KdqError('E_TFLITE', `layer "${layer.name}" is applied ${layer.inboundNodes.length} times; kdq exports models that use each layer once`);
  }
  return layer.inboundNodes[0]!.inboundLayers.map((l) => l.name);
}

/**
 * Layers in a topological order that follows creation order where the graph allows (tf.js's own
 * order sorts by depth), so the file lists operators in the order the layers were written.
 */
function ordered(model: tf.LayersModel): tf.layers.Layer[] {
  const layers = model.layers.filter((l) => l.getClassName() !== 'InputLayer');
  const inputName = model.inputs[0]!.sourceLayer.name;
  const pending = new Map(layers.map((l) => [l.name, new Set(inboundNames(l).filter((n) => n !== inputName))]));
  const out: tf.layers.Layer[] = [];
  const ready = () => layers.filter((l) => pending.get(l.name)?.size === 0);
  for (let next = ready(); next.length > 0; next = ready()) {
    const first = next.reduce((a, b) => (b.id < a.id ? b : a));
    out.push(first);
    pending.delete(first.name);
    for (const deps of pending.values()) deps.delete(first.name);
  }
  if (out.length !== layers.length)
    throw new KdqError('E_TFLITE', 'the model has a cycle or reads a layer outside it; build it from one input with tf.model or tf.sequential');
  return out;
}

export function layerGraph(model: tf.LayersModel): LayerGraph {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new KdqError(
      'E_TFLITE',
      `the model has ${model.inputs.length} inputs and ${model.outputs.length} outputs; kdq exports models with one image input and one logits output`,
    );
  }
  const nodeOf = new Map<string, number>([[model.inputs[0]!.sourceLayer.name, MODEL_INPUT]]);
  const nodes: LayerNode[] = [];
  for (const layer of ordered(model)) {
    const inputs = inboundNames(layer).map((n) => nodeOf.get(n)!);
    if (IDENTITY_CLASSES.has(layer.getClassName())) {
      nodeOf.set(layer.name, inputs[0]!);
      continue;
    }
    nodeOf.set(layer.name, nodes.push({ layer, inputs, uses: 0 }) - 1);
  }
  const output = nodeOf.get(model.outputs[0]!.sourceLayer.name)!;
  for (const n of nodes) for (const i of n.inputs) if (i !== MODEL_INPUT) nodes[i]!.uses++;
  if (output !== MODEL_INPUT) nodes[output]!.uses++;
  return { nodes, output };
}
