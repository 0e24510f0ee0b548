/**
 * tf.js model (logits; a chain or a graph) -> a .tflite file ending in SOFTMAX, in one of four modes:
 * `float32`; `int8` full-integer post-training quantization calibrated on sample images;
 * `dynamic-range` (int8 weights, float activations, hybrid kernels); `float16` (float16 weight
 * buffers dequantized to float32 at load, as the converter writes them).
 */
import type * as tf from '@tensorflow/tfjs';
import { KdqError } from '../errors.ts';
import { INPUT_METADATA, type InputDescription } from '../data/input-description.ts';
import type { CalibrationMethod, IoType, QuantMode } from '../names.ts';
import type { Range } from '../quant/calibrate.ts';
import { toFloat16Array } from '../quant/float16.ts';
import { activationParams, biasScales, quantizeAffine, quantizeBias, quantizeSymmetric, toUint8Params, type AffineParams } from '../quant/params.ts';
import { calibrateSteps } from './calibrate-steps.ts';
import { INPUT_STEP, channelAxis, lowerModel, type LoweredModel, type Step, type WeightedStep } from './lower.ts';
import type { TfliteModel, TfliteOperator, TfliteOptions, TfliteQuantization, TfliteTensor } from './model.ts';
import { isPerChannel, minRuntimeVersion, opVersion, type OpSignature } from './op-version.ts';
import { planStepQuant, sameParams, type StepQuant } from './quant-plan.ts';
import type { TensorTypeName } from './schema.ts';
import { writeTflite } from './writer.ts';

export type ExportMode = QuantMode | 'float32';

export interface ExportOptions {
  /** `none` and `float32` both write a float32 file. */
  mode: ExportMode;
  /** int8: calibration examples, as the model takes them (NHWC images or [N, F] rows). */
  calibration?: Float32Array;
  calibrationMethod?: CalibrationMethod;
  /** `percentile` calibration: percentile of |activation| kept (default 99.99). */
  percentile?: number;
  /** int8 and dynamic-range: per-channel scales for dense weights too (conv weights are always per channel). */
  perChannel?: boolean;
  /** int8 only: the file's input and output tensor types (default float32). */
  inputType?: IoType;
  outputType?: IoType;
  /** One example: [h, w, c] or [f]. */
  inputShape: readonly number[];
  /** What an app must feed the file, written as the `kdq_input` metadata entry; absent or null: no entry. */
  input?: InputDescription | null;
}

export interface ExportSummary {
  mode: 'float32' | 'int8' | 'dynamic-range' | 'float16';
  sizeBytes: number;
  inputType: IoType;
  outputType: IoType;
  /** `OP vN` per operator, in execution order. */
  operators: string[];
  /** Bytes of constant tensor data (weights, biases, shape constants). */
  constantBytes: number;
  /** int8: what was calibrated. */
  calibration?: { images: number; method: CalibrationMethod; percentile?: number; input: Range; logits: Range };
}

/** Weights with fewer elements stay float in dynamic-range mode (the converter's default threshold). */
export const DYNAMIC_RANGE_MIN_ELEMENTS = 1024;

const SOFTMAX_OUT: AffineParams = { scale: 1 / 256, zeroPoint: -128 };

function bytesOf(a: Float32Array | Int32Array | Int8Array | Uint16Array): Uint8Array {
  // Copy so that the buffer is exactly the tensor (typed arrays may view a larger buffer).
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength).slice();
}

function perTensor(p: AffineParams, range?: Range): TfliteQuantization {
  const q: TfliteQuantization = { scale: [Math.fround(p.scale)], zeroPoint: [p.zeroPoint], quantizedDimension: 0 };
  if (range) {
    q.min = [range.min];
    q.max = [range.max];
  }
  return q;
}

/** Tensors and operators in the making; indices are positions in the final file. */
class Graph {
  readonly tensors: TfliteTensor[] = [];
  readonly operators: TfliteOperator[] = [];
  tensor(t: TfliteTensor): number {
    return this.tensors.push(t) - 1;
  }
  op(op: string, sig: OpSignature, inputs: number[], outputs: number[], options?: TfliteOptions): void {
    const o: TfliteOperator = { op, version: opVersion(op, sig), inputs, outputs };
    if (options) o.options = options;
    this.operators.push(o);
  }
}

type WeightMode = 'float32' | 'int8' | 'dynamic-range' | 'float16';

function stepOptions(s: Step): { op: string; options?: TfliteOptions } {
  switch (s.kind) {
    case 'conv2d':
      return {
        op: 'CONV_2D',
        options: {
          type: 'Conv2DOptions',
          padding: s.padding,
          strideH: s.strides[0],
          strideW: s.strides[1],
          activation: s.activation,
          dilationH: s.dilation[0],
          dilationW: s.dilation[1],
        },
      };
    case 'depthwiseConv2d':
      return {
        op: 'DEPTHWISE_CONV_2D',
        options: {
          type: 'DepthwiseConv2DOptions',
          padding: s.padding,
          strideH: s.strides[0],
          strideW: s.strides[1],
          depthMultiplier: s.depthMultiplier,
          activation: s.activation,
          dilationH: s.dilation[0],
          dilationW: s.dilation[1],
        },
      };
    case 'dense':
      return {
        op: 'FULLY_CONNECTED',
        options: { type: 'FullyConnectedOptions', activation: s.activation, keepNumDims: false, asymmetricQuantizeInputs: false },
      };
    case 'maxPool':
    case 'averagePool':
      return {
        op: s.kind === 'maxPool' ? 'MAX_POOL_2D' : 'AVERAGE_POOL_2D',
        options: {
          type: 'Pool2DOptions',
          padding: s.padding,
          strideH: s.strides[0],
          strideW: s.strides[1],
          filterHeight: s.pool[0],
          filterWidth: s.pool[1],
          activation: 'NONE',
        },
      };
    case 'mean':
      return { op: 'MEAN', options: { type: 'ReducerOptions', keepDims: false } };
    case 'reshape':
      return { op: 'RESHAPE' };
    case 'relu':
      return { op: 'RELU' };
    case 'relu6':
      return { op: 'RELU6' };
    case 'tanh':
      return { op: 'TANH' };
    case 'sigmoid':
      return { op: 'LOGISTIC' };
    case 'add':
      return { op: 'ADD', options: { type: 'AddOptions', activation: s.activation } };
    case 'mul':
      return { op: 'MUL', options: { type: 'MulOptions', activation: s.activation } };
    case 'concatenate':
      return { op: 'CONCATENATION', options: { type: 'ConcatenationOptions', axis: s.outShape.length - 1, activation: 'NONE' } };
  }
}

/**
 * The per-channel constant operand of an ADD or MUL (an unfolded batch norm's shift or scale), 1-D
 * so that it broadcasts over the last axis. int8: quantized like an activation (per tensor, from
 * its own range), as the converter quantizes constant operands of int8 ADD and MUL.
 */
function addConstant(g: Graph, name: string, values: Float32Array, mode: WeightMode): { tensor: number; params?: AffineParams } {
  const shape = [values.length];
  if (mode === 'int8') {
    let min = Infinity;
    let max = -Infinity;
    for (const v of values) {
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    const params = activationParams(min, max);
    return { tensor: g.tensor({ name, shape, type: 'INT8', buffer: bytesOf(quantizeAffine(values, params)), quantization: perTensor(params) }), params };
  }
  if (mode === 'float16') return { tensor: dequantizedFloat16(g, name, shape, values) };
  return { tensor: g.tensor({ name, shape, type: 'FLOAT32', buffer: bytesOf(values) }) };
}

/** A FLOAT16 constant and the DEQUANTIZE (v3) that makes it the float32 tensor `name`, as the converter writes float16 files. */
function dequantizedFloat16(g: Graph, name: string, shape: number[], data: Float32Array): number {
  const half = g.tensor({ name: `${name}/float16`, shape, type: 'FLOAT16', buffer: bytesOf(toFloat16Array(data)) });
  const full = g.tensor({ name, shape, type: 'FLOAT32' });
  g.op('DEQUANTIZE', { input: 'FLOAT16', output: 'FLOAT32' }, [half], [full], { type: 'DequantizeOptions' });
  return full;
}

/**
 * `tensor` as a CONCATENATION input: itself when it already has the concatenation's parameters
 * (or the file is float), else a QUANTIZE (int8 -> int8) to them, as the converter inserts.
 */
function requantized(g: Graph, tensor: number, params: AffineParams | undefined, out: StepQuant | undefined, name: string): number {
  if (!out || !params || sameParams(params, out.params)) return tensor;
  const t = g.tensor({ name: `${name}/requantized`, shape: g.tensors[tensor]!.shape, type: 'INT8', quantization: perTensor(out.params, out.range) });
  g.op('QUANTIZE', { input: 'INT8', output: 'INT8' }, [tensor], [t], { type: 'QuantizeOptions' });
  return t;
}

/**
 * Adds a weighted step's constants; returns the tensor indices the op takes as weights and bias,
 * and how many scales the weights have (0 when they stay float).
 * `inScale`: int8 only, the scale of the op's input (bias scales derive from it).
 */
function addWeights(
  g: Graph,
  s: WeightedStep,
  mode: WeightMode,
  perChannelDense: boolean,
  inScale: number,
): { weights: number; bias: number; weightType: TensorTypeName; scales: number } {
  const cout = s.bias.length;
  const axis = channelAxis(s.kind);
  const qdim = axis === 'first' ? 0 : 3;
  if (mode === 'int8' || (mode === 'dynamic-range' && s.weights.length >= DYNAMIC_RANGE_MIN_ELEMENTS)) {
    const perChannel = s.kind !== 'dense' || perChannelDense;
    const q = quantizeSymmetric(s.weights, perChannel ? cout : 1, axis);
    const scales = q.scales.map(Math.fround);
    const weights = g.tensor({
      name: `${s.name}/weights`,
      shape: s.weightShape,
      type: 'INT8',
      buffer: bytesOf(q.values),
      quantization: { scale: scales, zeroPoint: scales.map(() => 0), quantizedDimension: perChannel ? qdim : 0 },
    });
    if (mode === 'dynamic-range') {
      const bias = g.tensor({ name: `${s.name}/bias`, shape: [cout], type: 'FLOAT32', buffer: bytesOf(s.bias) });
      return { weights, bias, weightType: 'INT8', scales: scales.length };
    }
    const bScales = biasScales(inScale, scales);
    const bias = g.tensor({
      name: `${s.name}/bias`,
      shape: [cout],
      type: 'INT32',
      buffer: bytesOf(quantizeBias(s.bias, bScales)),
      // A 1-D bias is quantized along its only axis, 0 (runtimes reject 3, see NOTES.md).
      quantization: { scale: bScales, zeroPoint: bScales.map(() => 0), quantizedDimension: 0 },
    });
    return { weights, bias, weightType: 'INT8', scales: scales.length };
  }
  if (mode === 'float16') {
    const weights = dequantizedFloat16(g, `${s.name}/weights`, s.weightShape, s.weights);
    return { weights, bias: dequantizedFloat16(g, `${s.name}/bias`, [cout], s.bias), weightType: 'FLOAT32', scales: 0 };
  }
  const weights = g.tensor({ name: `${s.name}/weights`, shape: s.weightShape, type: 'FLOAT32', buffer: bytesOf(s.weights) });
  const bias = g.tensor({ name: `${s.name}/bias`, shape: [cout], type: 'FLOAT32', buffer: bytesOf(s.bias) });
  return { weights, bias, weightType: 'FLOAT32', scales: 0 };
}

function resolveMode(mode: ExportMode): WeightMode {
  if (mode === 'none' || mode === 'float32') return 'float32';
  return mode;
}

function checkIoType(name: string, t: IoType | undefined, mode: WeightMode): IoType {
  const v = t ?? 'float32';
  if (v !== 'float32' && mode !== 'int8') {
    throw new KdqError(
      'E_TFLITE',
      `quantization.${name}: ${v} needs mode int8 (a ${mode} file has float32 input and output); set ${name}: float32 or mode: int8`,
    );
  }
  return v;
}

/** Builds the TfliteModel of a lowered model (exposed for tests that inspect the plain model). */
export function buildTfliteModel(lowered: LoweredModel, opts: ExportOptions): { model: TfliteModel; summary: Omit<ExportSummary, 'sizeBytes'> } {
  const mode = resolveMode(opts.mode);
  const inputType = checkIoType('inputType', opts.inputType, mode);
  const outputType = checkIoType('outputType', opts.outputType, mode);
  const int8 = mode === 'int8';
  const g = new Graph();

  let cal: ReturnType<typeof calibrateSteps> | undefined;
  if (int8) {
    if (!opts.calibration || opts.calibration.length === 0) {
      throw new KdqError('E_TFLITE', 'int8 export needs calibration images (opts.calibration); give quantization.calibrationSamples >= 1');
    }
    cal = calibrateSteps(lowered, opts.calibration, { method: opts.calibrationMethod ?? 'minmax', percentile: opts.percentile });
  }

  // Input, quantized at the edge when the file computes in int8.
  const inShape = [1, ...lowered.inputShape];
  const inParams = cal ? activationParams(cal.input.min, cal.input.max) : undefined;
  const fileInput = g.tensor({
    name: `serving_default_${lowered.inputName}:0`,
    shape: inShape,
    type: inputType === 'float32' ? 'FLOAT32' : inputType === 'int8' ? 'INT8' : 'UINT8',
    ...(inParams && inputType !== 'float32' ? { quantization: perTensor(inputType === 'uint8' ? toUint8Params(inParams) : inParams) } : {}),
  });
  let x = fileInput;
  if (int8 && inputType !== 'int8' && inParams && cal) {
    x = g.tensor({ name: `${lowered.inputName}/quantized`, shape: inShape, type: 'INT8', quantization: perTensor(inParams, cal.input) });
    g.op('QUANTIZE', { input: inputType === 'float32' ? 'FLOAT32' : 'UINT8', output: 'INT8' }, [fileInput], [x], { type: 'QuantizeOptions' });
  }

  const actType: TensorTypeName = int8 ? 'INT8' : 'FLOAT32';
  const quant = cal && inParams ? planStepQuant(lowered, inParams, cal.steps) : undefined;
  const stepTensor: number[] = [];
  const modelInput = x;
  const tensorOf = (i: number): number => (i === INPUT_STEP ? modelInput : stepTensor[i]!);
  const paramsOf = (i: number): AffineParams | undefined => (i === INPUT_STEP ? inParams : quant?.[i]!.params);
  lowered.steps.forEach((s, i) => {
    const { op, options } = stepOptions(s);
    const q = quant?.[i];
    const out = g.tensor({
      name: s.name,
      shape: s.outShape,
      type: actType,
      ...(q ? { quantization: perTensor(q.params, q.range) } : {}),
    });
    const x0 = tensorOf(s.inputs[0]!);
    if (s.kind === 'conv2d' || s.kind === 'depthwiseConv2d' || s.kind === 'dense') {
      const wt = addWeights(g, s, mode, opts.perChannel ?? false, paramsOf(s.inputs[0]!)?.scale ?? 0);
      const sig: OpSignature = {
        input: actType,
        weight: wt.weightType,
        perChannel: isPerChannel(op, s.weightShape, wt.scales),
        hasBias: true,
        dilated: s.dilation.some((d) => d > 1),
        ...(options?.type === 'FullyConnectedOptions' ? { keepNumDims: options.keepNumDims, asymmetricQuantizeInputs: options.asymmetricQuantizeInputs } : {}),
      };
      g.op(op, sig, [x0, wt.weights, wt.bias], [out], options);
    } else if (s.kind === 'reshape') {
      const shape = g.tensor({ name: `${s.name}/shape`, shape: [s.outShape.length], type: 'INT32', buffer: bytesOf(Int32Array.from(s.outShape)) });
      g.op(op, { input: actType }, [x0, shape], [out], options);
    } else if (s.kind === 'mean') {
      const axes = g.tensor({ name: `${s.name}/axes`, shape: [2], type: 'INT32', buffer: bytesOf(Int32Array.from([1, 2])) });
      g.op(op, { input: actType }, [x0, axes], [out], options);
    } else if (s.kind === 'add' || s.kind === 'mul') {
      const second = s.constant
        ? addConstant(g, `${s.name}/${s.kind === 'mul' ? 'scale' : 'shift'}`, s.constant, mode)
        : { tensor: tensorOf(s.inputs[1]!), params: paramsOf(s.inputs[1]!) };
      // MUL's kernel variant depends on whether it scales up (op_version.cc).
      const p0 = paramsOf(s.inputs[0]!);
      const rescale = q && p0 && second.params ? (Math.fround(p0.scale) * Math.fround(second.params.scale)) / Math.fround(q.params.scale) : undefined;
      g.op(op, { input: actType, ...(rescale === undefined ? {} : { rescale }) }, [x0, second.tensor], [out], options);
    } else if (s.kind === 'concatenate') {
      const ins = s.inputs.map((from, k) => requantized(g, tensorOf(from), paramsOf(from), q, `${s.name}/input${k}`));
      g.op(op, { input: actType }, ins, [out], options);
    } else {
      g.op(op, { input: actType }, [x0], [out], options);
    }
    stepTensor.push(out);
  });
  const logits = stepTensor[stepTensor.length - 1]!;

  // The SOFTMAX head, then dequantize/requantize to the requested output type.
  const classes = lowered.steps[lowered.steps.length - 1].outShape;
  const probs = g.tensor({ name: 'StatefulPartitionedCall:0', shape: classes, type: actType, ...(int8 ? { quantization: perTensor(SOFTMAX_OUT) } : {}) });
  g.op('SOFTMAX', { input: actType }, [logits], [probs], { type: 'SoftmaxOptions', beta: 1 });
  let fileOutput = probs;
  if (int8 && outputType !== 'int8') {
    g.tensors[probs].name = 'softmax';
    if (outputType === 'float32') {
      fileOutput = g.tensor({ name: 'StatefulPartitionedCall:0', shape: classes, type: 'FLOAT32' });
      g.op('DEQUANTIZE', { input: 'INT8', output: 'FLOAT32' }, [probs], [fileOutput], { type: 'DequantizeOptions' });
    } else {
      fileOutput = g.tensor({ name: 'StatefulPartitionedCall:0', shape: classes, type: 'UINT8', quantization: perTensor(toUint8Params(SOFTMAX_OUT)) });
      g.op('QUANTIZE', { input: 'INT8', output: 'UINT8' }, [probs], [fileOutput], { type: 'QuantizeOptions' });
    }
  }

  const model: TfliteModel = {
    description: 'Written by kdq.',
    subgraphName: 'main',
    tensors: g.tensors,
    operators: g.operators,
    inputs: [fileInput],
    outputs: [fileOutput],
    metadata: {
      min_runtime_version: minRuntimeVersion(g.operators),
      ...(opts.input ? { [INPUT_METADATA]: new TextEncoder().encode(JSON.stringify(opts.input)) } : {}),
    },
    signatures: [{ key: 'serving_default', inputs: [{ name: lowered.inputName, tensor: fileInput }], outputs: [{ name: 'output_0', tensor: fileOutput }] }],
  };
  const constantBytes = g.tensors.reduce((a, t) => a + (t.buffer?.length ?? 0), 0);
  const summary: Omit<ExportSummary, 'sizeBytes'> = {
    mode,
    inputType,
    outputType,
    operators: g.operators.map((o) => `${o.op} v${o.version}`),
    constantBytes,
  };
  if (cal) {
    const method = opts.calibrationMethod ?? 'minmax';
    summary.calibration = {
      images: cal.images,
      method,
      ...(method === 'percentile' ? { percentile: opts.percentile ?? 99.99 } : {}),
      input: cal.input,
      logits: cal.steps[cal.steps.length - 1],
    };
  }
  return { model, summary };
}

/**
 * Exports a tf.js model whose output is logits as .tflite bytes ending in SOFTMAX.
 * Throws KdqError E_TFLITE for layers or settings TFLite cannot express.
 */
export function exportTflite(model: tf.LayersModel, opts: ExportOptions): { bytes: Uint8Array; summary: ExportSummary } {
  const lowered = lowerModel(model);
  const got = lowered.inputShape.join('x');
  if (got !== opts.inputShape.join('x')) {
    throw new KdqError('E_TFLITE', `model input is ${got} but inputShape is ${opts.inputShape.join('x')}; pass the shape the model was built with`);
  }
  const { model: tfl, summary } = buildTfliteModel(lowered, opts);
  const bytes = writeTflite(tfl);
  return { bytes, summary: { ...summary, sizeBytes: bytes.length } };
}
