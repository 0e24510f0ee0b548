/**
 * A tf.js model (a chain or a graph with branches) -> a float graph in TFLite terms: weights
 * already in TFLite layouts (conv OHWI, depthwise [1, kh, kw, C], dense [out, in]), batch norms
 * folded into the conv/dense before them where that is exact and MUL then ADD with per-channel
 * constants elsewhere, ReLU/ReLU6 fused into the conv/dense/ADD before them, dropout gone, adds
 * of n inputs as n - 1 two-input ADDs. Every export mode and the calibration start from this one
 * graph, so the float file, the calibrated ranges and the int8 file agree on which tensors exist.
 */
import type * as tf from '@tensorflow/tfjs';
import { KdqError } from '../errors.ts';
import { ACTIVATIONS, type Activation } from '../names.ts';
import { foldBatchNorm, type BatchNormParams } from '../quant/fold-batch-norm.ts';
import type { ChannelAxis } from '../quant/params.ts';
import { MODEL_INPUT, layerGraph, type LayerNode } from './layer-graph.ts';

export type FusedActivation = 'NONE' | 'RELU' | 'RELU6';

/** A step's input that is the model's input rather than another step. */
export const INPUT_STEP = MODEL_INPUT;

interface StepBase {
  /** The tf.js layer the step came from (tensor names in the file). */
  name: string;
  /** Output shape, NHWC or [1, n], batch 1. */
  outShape: number[];
  /** The steps it reads, in order (INPUT_STEP for the model's input); always earlier steps. */
  inputs: number[];
}
export interface WeightedStep extends StepBase {
  kind: 'conv2d' | 'depthwiseConv2d' | 'dense';
  weights: Float32Array;
  /** TFLite layout: conv [cout, kh, kw, cin], depthwise [1, kh, kw, cin*mult], dense [out, in]. */
  weightShape: number[];
  bias: Float32Array;
  activation: FusedActivation;
  /** conv/depthwise: [strideH, strideW], padding, dilation [h, w]. */
  strides: [number, number];
  padding: 'SAME' | 'VALID';
  dilation: [number, number];
  depthMultiplier: number;
}
export interface PoolStep extends StepBase {
  kind: 'maxPool' | 'averagePool';
  pool: [number, number];
  strides: [number, number];
  padding: 'SAME' | 'VALID';
}
export interface SimpleStep extends StepBase {
  /** mean: global average pooling over H, W; reshape: flatten to outShape. */
  kind: 'mean' | 'reshape' | 'relu' | 'relu6' | 'tanh' | 'sigmoid';
}
/**
 * ADD or MUL: of two steps (a residual add), or of one step and a per-channel constant broadcast
 * over the last axis (a batch norm that cannot be folded: MUL by its scale, then ADD its shift).
 */
export interface ElementwiseStep extends StepBase {
  kind: 'add' | 'mul';
  /** The second operand when it is a constant, one value per channel. */
  constant?: Float32Array;
  activation: FusedActivation;
}
/** CONCATENATION along the last (channel) axis. */
export interface ConcatStep extends StepBase {
  kind: 'concatenate';
}
export type Step = WeightedStep | PoolStep | SimpleStep | ElementwiseStep | ConcatStep;

export interface LoweredModel {
  inputName: string;
  /** One example: [h, w, c] (NHWC images) or [f] (table rows, straight into FULLY_CONNECTED). */
  inputShape: number[];
  /** Steps in a topological order from the input to the logits (the last step); the file adds SOFTMAX after it. */
  steps: Step[];
}

/** Steps a following relu/relu6 can fuse into (their options carry a fused activation). */
function takesFusedActivation(s: Step): s is WeightedStep | ElementwiseStep {
  return 'activation' in s;
}

/** The channel axis of each weighted kind in TFLite layout. */
export function channelAxis(kind: WeightedStep['kind']): ChannelAxis {
  return kind === 'depthwiseConv2d' ? 'last' : 'first';
}

function pair(v: unknown, what: string): [number, number] {
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number')) return [v[0], v[1]];
  throw new KdqError('E_TFLITE', `layer ${what}: expected a number or [h, w], got ${JSON.stringify(v)}`);
}

function paddingOf(v: unknown, layer: string): 'SAME' | 'VALID' {
  if (v === 'same') return 'SAME';
  if (v === 'valid') return 'VALID';
  throw new KdqError('E_TFLITE', `layer "${layer}": padding "${String(v)}" has no TFLite equivalent; use "same" or "valid"`);
}

function activationOf(v: unknown, layer: string): Activation {
  if (typeof v === 'string' && (ACTIVATIONS as readonly string[]).includes(v)) return v as Activation;
  throw new KdqError('E_TFLITE', `layer "${layer}": activation "${String(v)}" cannot be exported; use one of ${ACTIVATIONS.join(', ')}`);
}

function transpose(src: Float32Array, shape: number[], perm: number[]): Float32Array {
  const outShape = perm.map((p) => shape[p]);
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const out = new Float32Array(src.length);
  const idx = new Array<number>(outShape.length).fill(0);
  for (let o = 0; o < out.length; o++) {
    let s = 0;
    for (let d = 0; d < idx.length; d++) s += idx[d] * strides[perm[d]];
    out[o] = src[s];
    for (let d = idx.length - 1; d >= 0; d--) {
      if (++idx[d] < outShape[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

function batchOne(shape: unknown, layer: string): number[] {
  const s: unknown = Array.isArray(shape) && Array.isArray(shape[0]) ? shape[0] : shape;
  if (!Array.isArray(s) || s.slice(1).some((d) => typeof d !== 'number')) {
    throw new KdqError('E_TFLITE', `layer "${layer}" has no static output shape (${JSON.stringify(shape)}); build the model with a fixed inputShape`);
  }
  return [1, ...(s.slice(1) as number[])];
}

/** Steps in the making: each layer node maps to the step holding its output. */
class Lowering {
  readonly steps: Step[] = [];
  /** Per step: how many readers the value it now holds has (a fold or fusion is exact only with one). */
  private readonly uses: number[] = [];
  /** Per layer node: the step holding its output (INPUT_STEP for the input). */
  private readonly stepOf: number[] = [];

  constructor(readonly inShape: number[]) {}

  /** The step holding node `n`'s output. */
  stepFor(n: number): number {
    return n === MODEL_INPUT ? INPUT_STEP : this.stepOf[n]!;
  }
  /** The step holding the `k`-th input of `node`. */
  input(node: LayerNode, k = 0): number {
    return this.stepFor(node.inputs[k]!);
  }
  shapeOf(step: number): number[] {
    return step === INPUT_STEP ? this.inShape : this.steps[step]!.outShape;
  }
  /** Adds a step holding a value read `uses` times; returns its index. */
  push(step: Step, uses = 1): number {
    this.uses.push(uses);
    return this.steps.push(step) - 1;
  }
  /** Node `n`'s output is held by `step`, read as often as the node's output is. */
  hold(n: number, node: LayerNode, step: number): void {
    this.stepOf[n] = step;
    if (step !== INPUT_STEP) this.uses[step] = node.uses;
  }
  /** Whether `step` may be changed in place: a step of its own, read by this layer alone. */
  ownedBy(step: number): boolean {
    return step !== INPUT_STEP && this.uses[step] === 1;
  }
}

/**
 * Node `n`'s activation: nothing for linear, fused into its input step when that step is the
 * layer's alone and takes a fused relu/relu6, else a step of its own. A softmax is allowed only
 * on the model's output (the file ends in SOFTMAX anyway).
 */
function lowerActivation(lw: Lowering, n: number, node: LayerNode, act: Activation, from: number, isOutput: boolean, name: string): void {
  const shape = lw.shapeOf(from);
  if (act === 'linear' || act === 'softmax') {
    if (act === 'softmax' && !isOutput) {
      throw new KdqError(
        'E_TFLITE',
        `layer "${name}": softmax is only exportable as the last activation (the file ends in SOFTMAX); remove it or move it to the end`,
      );
    }
    lw.hold(n, node, from);
    return;
  }
  const prev = lw.steps[from];
  if ((act === 'relu' || act === 'relu6') && prev && lw.ownedBy(from) && takesFusedActivation(prev) && prev.activation === 'NONE') {
    prev.activation = act === 'relu' ? 'RELU' : 'RELU6';
    lw.hold(n, node, from);
    return;
  }
  lw.hold(n, node, lw.push({ kind: act, name: `${name}/${act}`, outShape: shape, inputs: [from] }));
}

/** The inference-mode batch norm of a tf.js BatchNormalization layer over `channels` channels. */
function batchNormParams(cfg: Record<string, unknown>, weights: { data: Float32Array }[], channels: number): BatchNormParams {
  // tf.js orders the weights gamma (if scale), beta (if center), moving mean, moving variance.
  let k = 0;
  const gamma = cfg.scale === false ? new Float32Array(channels).fill(1) : weights[k++]!.data;
  const beta = cfg.center === false ? new Float32Array(channels) : weights[k++]!.data;
  const mean = weights[k++]!.data;
  const variance = weights[k]!.data;
  return { gamma, beta, mean, variance, epsilon: cfg.epsilon as number };
}

/** y = x * scale + shift, per channel: what a batch norm computes at inference. */
function scaleShift(bn: BatchNormParams): { scale: Float32Array; shift: Float32Array } {
  const scale = new Float32Array(bn.gamma.length);
  const shift = new Float32Array(bn.gamma.length);
  for (let c = 0; c < scale.length; c++) {
    scale[c] = bn.gamma[c]! / Math.sqrt(bn.variance[c]! + bn.epsilon);
    shift[c] = bn.beta[c]! - bn.mean[c]! * scale[c]!;
  }
  return { scale, shift };
}

/**
 * Walks the model's layers (in a topological order, see layer-graph.ts) into a LoweredModel.
 * Throws KdqError E_TFLITE for a layer or setting the TFLite export cannot express, naming the
 * layer and the fix.
 */
export function lowerModel(model: tf.LayersModel): LoweredModel {
  const inShape = batchOne(model.inputs[0]?.shape, 'input');
  if (inShape.length !== 4 && inShape.length !== 2) {
    throw new KdqError('E_TFLITE', `model input shape [${inShape.slice(1)}] is neither [h, w, c] nor [features]; kdq exports NHWC images and table rows`);
  }
  const graph = layerGraph(model);
  const lw = new Lowering(inShape);
  graph.nodes.forEach((node, n) => {
    const layer = node.layer;
    const cls = layer.getClassName();
    const cfg = layer.getConfig() as Record<string, unknown>;
    const name = layer.name;
    const shape = batchOne(layer.outputShape, name);
    const weights = layer.getWeights().map((w) => ({ shape: w.shape, data: w.dataSync() as Float32Array }));
    const isOutput = n === graph.output;
    const from = lw.input(node);
    if ('dataFormat' in cfg && cfg.dataFormat !== 'channelsLast') {
      throw new KdqError('E_TFLITE', `layer "${name}": dataFormat "${String(cfg.dataFormat)}"; TFLite kernels are NHWC, use channelsLast`);
    }
    switch (cls) {
      case 'Conv2D':
      case 'DepthwiseConv2D': {
        const [kernel, bias] = weights;
        const [kh, kw, cin, last] = kernel.shape;
        const depthwise = cls === 'DepthwiseConv2D';
        const cout = depthwise ? cin * last : last;
        const at = lw.push({
          kind: depthwise ? 'depthwiseConv2d' : 'conv2d',
          name,
          outShape: shape,
          inputs: [from],
          // depthwise [kh, kw, cin, mult] is already [1, kh, kw, cin*mult] in memory (channel c*mult+m).
          weights: depthwise ? Float32Array.from(kernel.data) : transpose(kernel.data, kernel.shape, [3, 0, 1, 2]),
          weightShape: depthwise ? [1, kh, kw, cout] : [cout, kh, kw, cin],
          bias: bias ? Float32Array.from(bias.data) : new Float32Array(cout),
          activation: 'NONE',
          strides: pair(cfg.strides, name),
          padding: paddingOf(cfg.padding, name),
          dilation: pair(cfg.dilationRate ?? 1, name),
          depthMultiplier: depthwise ? last : 1,
        });
        lowerActivation(lw, n, node, activationOf(cfg.activation, name), at, isOutput, name);
        return;
      }
      case 'Dense': {
        const [kernel, bias] = weights;
        const [nin, nout] = kernel.shape;
        const inputShape = lw.shapeOf(from);
        if (inputShape.length !== 2) {
          throw new KdqError('E_TFLITE', `layer "${name}": dense on a [${inputShape.slice(1)}] input; add a flatten or globalAveragePooling2d layer before it`);
        }
        const at = lw.push({
          kind: 'dense',
          name,
          outShape: shape,
          inputs: [from],
          weights: transpose(kernel.data, kernel.shape, [1, 0]),
          weightShape: [nout, nin],
          bias: bias ? Float32Array.from(bias.data) : new Float32Array(nout),
          activation: 'NONE',
          strides: [1, 1],
          padding: 'VALID',
          dilation: [1, 1],
          depthMultiplier: 1,
        });
        lowerActivation(lw, n, node, activationOf(cfg.activation, name), at, isOutput, name);
        return;
      }
      case 'BatchNormalization': {
        const axis = cfg.axis as number;
        if (axis !== -1 && axis !== shape.length - 1) {
          throw new KdqError('E_TFLITE', `layer "${name}": batchNormalization over axis ${axis}; only the channel axis (-1) can be exported`);
        }
        const bn = batchNormParams(cfg, weights, shape[shape.length - 1]!);
        const prev = lw.steps[from];
        // Folding is exact only into a linear conv/dense whose output nothing else reads.
        if (prev && 'bias' in prev && prev.activation === 'NONE' && lw.ownedBy(from)) {
          const folded = foldBatchNorm(prev.weights, prev.bias, channelAxis(prev.kind), bn);
          prev.weights = folded.weights;
          prev.bias = folded.bias;
          lw.hold(n, node, from);
          return;
        }
        const { scale, shift } = scaleShift(bn);
        const mul = lw.push({ kind: 'mul', name: `${name}/scale`, outShape: shape, inputs: [from], constant: scale, activation: 'NONE' });
        lw.hold(n, node, lw.push({ kind: 'add', name, outShape: shape, inputs: [mul], constant: shift, activation: 'NONE' }));
        return;
      }
      case 'Add': {
        // TFLite's ADD takes two inputs: a + b + c is (a + b) + c.
        let acc = from;
        for (let k = 1; k < node.inputs.length; k++) {
          const last = k === node.inputs.length - 1;
          acc = lw.push({ kind: 'add', name: last ? name : `${name}/partial${k}`, outShape: shape, inputs: [acc, lw.input(node, k)], activation: 'NONE' });
        }
        lw.hold(n, node, acc);
        return;
      }
      case 'Concatenate': {
        const axis = cfg.axis as number;
        if (axis !== -1 && axis !== shape.length - 1) {
          throw new KdqError('E_TFLITE', `layer "${name}": concatenate along axis ${axis}; kdq exports concatenation along the channel (last) axis`);
        }
        lw.hold(n, node, lw.push({ kind: 'concatenate', name, outShape: shape, inputs: node.inputs.map((_, k) => lw.input(node, k)) }));
        return;
      }
      case 'MaxPooling2D':
      case 'AveragePooling2D':
        lw.hold(
          n,
          node,
          lw.push({
            kind: cls === 'MaxPooling2D' ? 'maxPool' : 'averagePool',
            name,
            outShape: shape,
            inputs: [from],
            pool: pair(cfg.poolSize, name),
            strides: pair(cfg.strides ?? cfg.poolSize, name),
            padding: paddingOf(cfg.padding, name),
          }),
        );
        return;
      case 'GlobalAveragePooling2D':
        lw.hold(n, node, lw.push({ kind: 'mean', name, outShape: shape, inputs: [from] }));
        return;
      case 'Flatten':
        lw.hold(n, node, lw.push({ kind: 'reshape', name, outShape: shape, inputs: [from] }));
        return;
      case 'Activation':
        lowerActivation(lw, n, node, activationOf(cfg.activation, name), from, isOutput, name);
        return;
      default:
        throw new KdqError(
          'E_TFLITE',
          `layer "${name}" of class ${cls} cannot be exported to TFLite; kdq exports conv2d, depthwiseConv2d, maxPooling2d, averagePooling2d, globalAveragePooling2d, flatten, dense, dropout, batchNormalization, activation, add, concatenate`,
        );
    }
  });
  const steps = lw.steps;
  const last = steps[steps.length - 1];
  if (!last || last.outShape.length !== 2) {
    throw new KdqError(
      'E_TFLITE',
      `the model's output is not [batch, classes] (last shape [${last?.outShape.slice(1) ?? inShape.slice(1)}]); end it with flatten/globalAveragePooling2d and a dense layer`,
    );
  }
  if (lw.stepFor(graph.output) !== steps.length - 1) {
    throw new KdqError('E_INTERNAL', 'the lowered model does not end in its output step');
  }
  // The input *layer's* name, not its tensor's: tf.js makes tensor names unique per process
  // (`x_input`, `x_input_1`, ...), so a second model built with the same layer names would export
  // different bytes. Layer names come from the experiment (`student_0_conv2d_input`).
  return { inputName: model.inputs[0].sourceLayer.name, inputShape: inShape.slice(1), steps };
}
