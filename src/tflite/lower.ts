/**
 * tf.js Sequential -> a float graph in TFLite terms: weights already in TFLite layouts (conv OHWI,
 * depthwise [1, kh, kw, C], dense [out, in]), batch norms folded into the conv/dense before them,
 * ReLU/ReLU6 fused into that conv/dense, dropout gone. Every export mode and the calibration
 * start from this one graph, so the float file, the calibrated ranges and the int8 file agree on
 * which tensors exist.
 */
import type * as tf from '@tensorflow/tfjs';
import { KdqError } from '../errors.ts';
import { ACTIVATIONS, type Activation } from '../names.ts';
import { SeededDropout } from '../models/seeded-dropout.ts';
import { foldBatchNorm } from '../quant/fold-batch-norm.ts';
import type { ChannelAxis } from '../quant/params.ts';

export type FusedActivation = 'NONE' | 'RELU' | 'RELU6';

interface StepBase {
  /** The tf.js layer the step came from (tensor names in the file). */
  name: string;
  /** Output shape, NHWC or [1, n], batch 1. */
  outShape: number[];
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
export type Step = WeightedStep | PoolStep | SimpleStep;

export interface LoweredModel {
  inputName: string;
  inputShape: [number, number, number];
  /** Steps from the input to the logits; the file adds SOFTMAX after the last one. */
  steps: Step[];
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

/** Applies a trailing activation to the last step: fused when possible, else a step of its own. */
function addActivation(steps: Step[], act: Activation, layer: string, shape: number[], isLast: boolean): void {
  if (act === 'linear') return;
  if (act === 'softmax') {
    // The exported file always ends in SOFTMAX; a softmax head in the model means the same.
    if (!isLast) throw new KdqError('E_TFLITE', `layer "${layer}": softmax is only exportable as the last activation (the file ends in SOFTMAX); remove it or move it to the end`);
    return;
  }
  const prev = steps[steps.length - 1];
  if ((act === 'relu' || act === 'relu6') && prev && 'bias' in prev && prev.activation === 'NONE') {
    prev.activation = act === 'relu' ? 'RELU' : 'RELU6';
    return;
  }
  steps.push({ kind: act, name: `${layer}/${act}`, outShape: shape });
}

/**
 * Walks `model.layers` into a LoweredModel. Throws KdqError E_TFLITE for a layer or setting the
 * TFLite export cannot express, naming the layer and the fix.
 */
export function lowerModel(model: tf.LayersModel): LoweredModel {
  const inShape = batchOne(model.inputs[0]?.shape, 'input');
  if (inShape.length !== 4) {
    throw new KdqError('E_TFLITE', `model input shape [${inShape.slice(1)}] is not [h, w, c]; kdq exports image models with NHWC input`);
  }
  const steps: Step[] = [];
  const layers = model.layers.filter((l) => l.getClassName() !== 'InputLayer');
  layers.forEach((layer, li) => {
    const cls = layer.getClassName();
    const cfg = layer.getConfig() as Record<string, unknown>;
    const name = layer.name;
    const shape = batchOne(layer.outputShape, name);
    const weights = layer.getWeights().map((w) => ({ shape: w.shape, data: w.dataSync() as Float32Array }));
    const isLast = li === layers.length - 1;
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
        steps.push({
          kind: depthwise ? 'depthwiseConv2d' : 'conv2d',
          name,
          outShape: shape,
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
        addActivation(steps, activationOf(cfg.activation, name), name, shape, isLast);
        return;
      }
      case 'Dense': {
        const [kernel, bias] = weights;
        const [nin, nout] = kernel.shape;
        const prev = steps[steps.length - 1];
        const prevShape = prev ? prev.outShape : inShape;
        if (prevShape.length !== 2) {
          throw new KdqError('E_TFLITE', `layer "${name}": dense on a [${prevShape.slice(1)}] input; add a flatten or globalAveragePooling2d layer before it`);
        }
        steps.push({
          kind: 'dense',
          name,
          outShape: shape,
          weights: transpose(kernel.data, kernel.shape, [1, 0]),
          weightShape: [nout, nin],
          bias: bias ? Float32Array.from(bias.data) : new Float32Array(nout),
          activation: 'NONE',
          strides: [1, 1],
          padding: 'VALID',
          dilation: [1, 1],
          depthMultiplier: 1,
        });
        addActivation(steps, activationOf(cfg.activation, name), name, shape, isLast);
        return;
      }
      case 'BatchNormalization': {
        const prev = steps[steps.length - 1];
        if (!prev || !('bias' in prev) || prev.activation !== 'NONE') {
          throw new KdqError(
            'E_TFLITE',
            `layer "${name}": batchNormalization can only be exported right after a conv2d, depthwiseConv2d or dense layer without activation (it is folded into its weights); move the activation after the batch norm`,
          );
        }
        const axis = cfg.axis as number;
        if (axis !== -1 && axis !== shape.length - 1) {
          throw new KdqError('E_TFLITE', `layer "${name}": batchNormalization over axis ${axis}; only the channel axis (-1) can be folded`);
        }
        // tf.js orders the weights gamma (if scale), beta (if center), moving mean, moving variance.
        const c = prev.bias.length;
        let k = 0;
        const gamma = cfg.scale === false ? new Float32Array(c).fill(1) : weights[k++].data;
        const beta = cfg.center === false ? new Float32Array(c) : weights[k++].data;
        const mean = weights[k++].data;
        const variance = weights[k].data;
        const folded = foldBatchNorm(prev.weights, prev.bias, channelAxis(prev.kind), { gamma, beta, mean, variance, epsilon: cfg.epsilon as number });
        prev.weights = folded.weights;
        prev.bias = folded.bias;
        return;
      }
      case 'MaxPooling2D':
      case 'AveragePooling2D':
        steps.push({
          kind: cls === 'MaxPooling2D' ? 'maxPool' : 'averagePool',
          name,
          outShape: shape,
          pool: pair(cfg.poolSize, name),
          strides: pair(cfg.strides ?? cfg.poolSize, name),
          padding: paddingOf(cfg.padding, name),
        });
        return;
      case 'GlobalAveragePooling2D':
        steps.push({ kind: 'mean', name, outShape: shape });
        return;
      case 'Flatten':
        steps.push({ kind: 'reshape', name, outShape: shape });
        return;
      case 'Dropout':
      case SeededDropout.className: // kdq's own dropout layer (every `type: dropout` in a config)
        return; // identity at inference
      case 'Activation':
        addActivation(steps, activationOf(cfg.activation, name), name, shape, isLast);
        return;
      default:
        throw new KdqError(
          'E_TFLITE',
          `layer "${name}" of class ${cls} cannot be exported to TFLite; kdq exports conv2d, depthwiseConv2d, maxPooling2d, averagePooling2d, globalAveragePooling2d, flatten, dense, dropout, batchNormalization, activation`,
        );
    }
  });
  const last = steps[steps.length - 1];
  if (!last || last.outShape.length !== 2) {
    throw new KdqError('E_TFLITE', `the model's output is not [batch, classes] (last shape [${last?.outShape.slice(1) ?? inShape.slice(1)}]); end it with flatten/globalAveragePooling2d and a dense layer`);
  }
  // The input *layer's* name, not its tensor's: tf.js makes tensor names unique per process
  // (`x_input`, `x_input_1`, ...), so a second model built with the same layer names would export
  // different bytes. Layer names come from the experiment (`student_0_conv2d_input`).
  return { inputName: model.inputs[0].sourceLayer.name, inputShape: inShape.slice(1) as [number, number, number], steps };
}
