/**
 * TfliteModel -> .tflite bytes, with flatbuffers' Builder. Follows the converter's conventions:
 * schema version 3, identifier TFL3, an empty buffers[0] that every activation points at, one
 * buffer per constant tensor, both opcode fields, and constant data aligned to 16 bytes (the
 * schema's force_align). The Builder is deterministic, so the same model gives the same bytes.
 */
import { Builder, type Offset } from 'flatbuffers';
import { KdqError } from '../errors.ts';
import type { TfliteModel, TfliteOptions, TfliteQuantization, TfliteTensor } from './model.ts';
import { ActivationFunctionType, BuiltinOperator, BuiltinOptions, Padding, Slot, TensorType, type BuiltinOperatorName } from './schema.ts';

/** Byte alignment of constant data (schema: `data:[ubyte] (force_align: 16)`). */
const DATA_ALIGN = 16;

function intVector(b: Builder, values: readonly number[]): Offset {
  b.startVector(4, values.length, 4);
  for (let i = values.length - 1; i >= 0; i--) b.addInt32(values[i]);
  return b.endVector();
}

function floatVector(b: Builder, values: readonly number[]): Offset {
  b.startVector(4, values.length, 4);
  for (let i = values.length - 1; i >= 0; i--) b.addFloat32(values[i]);
  return b.endVector();
}

function longVector(b: Builder, values: readonly number[]): Offset {
  b.startVector(8, values.length, 8);
  for (let i = values.length - 1; i >= 0; i--) b.addInt64(BigInt(values[i]));
  return b.endVector();
}

function offsetVector(b: Builder, offsets: readonly Offset[]): Offset {
  b.startVector(4, offsets.length, 4);
  for (let i = offsets.length - 1; i >= 0; i--) b.addOffset(offsets[i]);
  return b.endVector();
}

function dataVector(b: Builder, data: Uint8Array): Offset {
  // Pad so that the data will start 16-aligned; createByteVector's own 4-byte alignment then adds
  // nothing, and it copies the bytes in one go instead of one addInt8 call per byte.
  b.prep(DATA_ALIGN, data.length);
  return b.createByteVector(data);
}

function checkQuantization(t: TfliteTensor, q: TfliteQuantization, index: number): void {
  const perAxis = q.scale.length > 1;
  if (q.scale.length !== q.zeroPoint.length) {
    throw new KdqError(
      'E_TFLITE',
      `tensor ${index} "${t.name}": ${q.scale.length} scales but ${q.zeroPoint.length} zero points; give one zero point per scale`,
    );
  }
  if (perAxis && t.shape[q.quantizedDimension] !== q.scale.length) {
    throw new KdqError(
      'E_TFLITE',
      `tensor ${index} "${t.name}": ${q.scale.length} scales along quantized dimension ${q.quantizedDimension} of shape [${t.shape}]; ` +
        'per-axis quantization needs one scale per element of that dimension',
    );
  }
}

function writeQuantization(b: Builder, q: TfliteQuantization): Offset {
  const scale = floatVector(b, q.scale);
  const zeroPoint = longVector(b, q.zeroPoint);
  const min = q.min ? floatVector(b, q.min) : 0;
  const max = q.max ? floatVector(b, q.max) : 0;
  const S = Slot.QuantizationParameters;
  b.startObject(7);
  if (min) b.addFieldOffset(S.min, min, 0);
  if (max) b.addFieldOffset(S.max, max, 0);
  b.addFieldOffset(S.scale, scale, 0);
  b.addFieldOffset(S.zero_point, zeroPoint, 0);
  b.addFieldInt32(S.quantized_dimension, q.quantizedDimension, 0);
  return b.endObject();
}

function writeOptions(b: Builder, o: TfliteOptions): { type: number; offset: Offset } {
  switch (o.type) {
    case 'Conv2DOptions': {
      const S = Slot.Conv2DOptions;
      b.startObject(7);
      b.addFieldInt8(S.padding, Padding[o.padding], 0);
      b.addFieldInt32(S.stride_w, o.strideW, 0);
      b.addFieldInt32(S.stride_h, o.strideH, 0);
      b.addFieldInt8(S.fused_activation_function, ActivationFunctionType[o.activation], 0);
      b.addFieldInt32(S.dilation_w_factor, o.dilationW, 1);
      b.addFieldInt32(S.dilation_h_factor, o.dilationH, 1);
      return { type: BuiltinOptions.Conv2DOptions, offset: b.endObject() };
    }
    case 'DepthwiseConv2DOptions': {
      const S = Slot.DepthwiseConv2DOptions;
      b.startObject(7);
      b.addFieldInt8(S.padding, Padding[o.padding], 0);
      b.addFieldInt32(S.stride_w, o.strideW, 0);
      b.addFieldInt32(S.stride_h, o.strideH, 0);
      b.addFieldInt32(S.depth_multiplier, o.depthMultiplier, 0);
      b.addFieldInt8(S.fused_activation_function, ActivationFunctionType[o.activation], 0);
      b.addFieldInt32(S.dilation_w_factor, o.dilationW, 1);
      b.addFieldInt32(S.dilation_h_factor, o.dilationH, 1);
      return { type: BuiltinOptions.DepthwiseConv2DOptions, offset: b.endObject() };
    }
    case 'Pool2DOptions': {
      const S = Slot.Pool2DOptions;
      b.startObject(6);
      b.addFieldInt8(S.padding, Padding[o.padding], 0);
      b.addFieldInt32(S.stride_w, o.strideW, 0);
      b.addFieldInt32(S.stride_h, o.strideH, 0);
      b.addFieldInt32(S.filter_width, o.filterWidth, 0);
      b.addFieldInt32(S.filter_height, o.filterHeight, 0);
      b.addFieldInt8(S.fused_activation_function, ActivationFunctionType[o.activation], 0);
      return { type: BuiltinOptions.Pool2DOptions, offset: b.endObject() };
    }
    case 'FullyConnectedOptions': {
      const S = Slot.FullyConnectedOptions;
      b.startObject(5);
      b.addFieldInt8(S.fused_activation_function, ActivationFunctionType[o.activation], 0);
      b.addFieldInt8(S.keep_num_dims, o.keepNumDims ? 1 : 0, 0);
      b.addFieldInt8(S.asymmetric_quantize_inputs, o.asymmetricQuantizeInputs ? 1 : 0, 0);
      return { type: BuiltinOptions.FullyConnectedOptions, offset: b.endObject() };
    }
    case 'SoftmaxOptions':
      b.startObject(1);
      b.addFieldFloat32(Slot.SoftmaxOptions.beta, o.beta, 0);
      return { type: BuiltinOptions.SoftmaxOptions, offset: b.endObject() };
    case 'AddOptions':
      b.startObject(2);
      b.addFieldInt8(Slot.AddOptions.fused_activation_function, ActivationFunctionType[o.activation], 0);
      return { type: BuiltinOptions.AddOptions, offset: b.endObject() };
    case 'MulOptions':
      b.startObject(1);
      b.addFieldInt8(Slot.MulOptions.fused_activation_function, ActivationFunctionType[o.activation], 0);
      return { type: BuiltinOptions.MulOptions, offset: b.endObject() };
    case 'ConcatenationOptions':
      b.startObject(2);
      b.addFieldInt32(Slot.ConcatenationOptions.axis, o.axis, 0);
      b.addFieldInt8(Slot.ConcatenationOptions.fused_activation_function, ActivationFunctionType[o.activation], 0);
      return { type: BuiltinOptions.ConcatenationOptions, offset: b.endObject() };
    case 'ReducerOptions':
      b.startObject(1);
      b.addFieldInt8(Slot.ReducerOptions.keep_dims, o.keepDims ? 1 : 0, 0);
      return { type: BuiltinOptions.ReducerOptions, offset: b.endObject() };
    case 'QuantizeOptions':
      b.startObject(0);
      return { type: BuiltinOptions.QuantizeOptions, offset: b.endObject() };
    case 'DequantizeOptions':
      b.startObject(0);
      return { type: BuiltinOptions.DequantizeOptions, offset: b.endObject() };
    case 'Other':
      throw new KdqError('E_TFLITE', `cannot write builtin options "${o.name}": kdq writes only the options of the ops it exports`);
  }
}

function opCode(op: string): number {
  if (!Object.hasOwn(BuiltinOperator, op)) {
    throw new KdqError('E_TFLITE', `cannot write operator "${op}": kdq knows ${Object.keys(BuiltinOperator).join(', ')}`);
  }
  return BuiltinOperator[op as BuiltinOperatorName];
}

/** Encodes a model as .tflite bytes (TFL3). Throws KdqError E_TFLITE on an inconsistent model. */
export function writeTflite(m: TfliteModel): Uint8Array {
  const n = m.tensors.length;
  const checkIndex = (i: number, where: string): void => {
    if (!Number.isInteger(i) || i < 0 || i >= n) {
      throw new KdqError('E_TFLITE', `${where} refers to tensor ${i}, but the model has tensors 0..${n - 1}`);
    }
  };
  m.inputs.forEach((i) => checkIndex(i, 'subgraph input'));
  m.outputs.forEach((i) => checkIndex(i, 'subgraph output'));
  m.operators.forEach((o, k) => [...o.inputs.filter((i) => i !== -1), ...o.outputs].forEach((i) => checkIndex(i, `operator ${k} (${o.op})`)));

  const b = new Builder(1024);

  // Buffers: 0 is the empty sentinel, then one per constant tensor in tensor order, then metadata.
  const bufferData: Uint8Array[] = [new Uint8Array(0)];
  const tensorBuffer = m.tensors.map((t) => {
    if (!t.buffer) return 0;
    bufferData.push(t.buffer);
    return bufferData.length - 1;
  });
  const metadataNames = Object.keys(m.metadata);
  const metadataBuffer = metadataNames.map((name) => {
    bufferData.push(m.metadata[name]);
    return bufferData.length - 1;
  });
  const buffers = bufferData.map((data) => {
    const d = data.length > 0 ? dataVector(b, data) : 0;
    b.startObject(3);
    if (d) b.addFieldOffset(Slot.Buffer.data, d, 0);
    return b.endObject();
  });

  const tensors = m.tensors.map((t, i) => {
    const name = b.createString(t.name);
    const shape = intVector(b, t.shape);
    let quant: Offset = 0;
    if (t.quantization) {
      checkQuantization(t, t.quantization, i);
      quant = writeQuantization(b, t.quantization);
    }
    const S = Slot.Tensor;
    b.startObject(8);
    b.addFieldOffset(S.shape, shape, 0);
    b.addFieldInt8(S.type, TensorType[t.type], 0);
    b.addFieldInt32(S.buffer, tensorBuffer[i], 0);
    b.addFieldOffset(S.name, name, 0);
    if (quant) b.addFieldOffset(S.quantization, quant, 0);
    return b.endObject();
  });

  // Operator codes: one per distinct (op, version), in order of first use.
  const codeKeys: string[] = [];
  const codeIndex = m.operators.map((o) => {
    const key = `${o.op}/${o.version}`;
    let k = codeKeys.indexOf(key);
    if (k < 0) k = codeKeys.push(key) - 1;
    return k;
  });
  const operatorCodes = codeKeys.map((key) => {
    const [op, version] = key.split('/');
    const code = opCode(op);
    const S = Slot.OperatorCode;
    b.startObject(4);
    // Older readers only look at the byte field; codes past 127 live in builtin_code alone.
    b.addFieldInt8(S.deprecated_builtin_code, Math.min(code, 127), 0);
    b.addFieldInt32(S.version, Number(version), 1);
    b.addFieldInt32(S.builtin_code, code, 0);
    return b.endObject();
  });

  const operators = m.operators.map((o, k) => {
    const inputs = intVector(b, o.inputs);
    const outputs = intVector(b, o.outputs);
    const options = o.options ? writeOptions(b, o.options) : undefined;
    const S = Slot.Operator;
    b.startObject(5);
    b.addFieldInt32(S.opcode_index, codeIndex[k], 0);
    b.addFieldOffset(S.inputs, inputs, 0);
    b.addFieldOffset(S.outputs, outputs, 0);
    if (options) {
      b.addFieldInt8(S.builtin_options_type, options.type, 0);
      b.addFieldOffset(S.builtin_options, options.offset, 0);
    }
    return b.endObject();
  });

  const tensorsVec = offsetVector(b, tensors);
  const inputsVec = intVector(b, m.inputs);
  const outputsVec = intVector(b, m.outputs);
  const operatorsVec = offsetVector(b, operators);
  const subgraphName = b.createString(m.subgraphName);
  b.startObject(5);
  b.addFieldOffset(Slot.SubGraph.tensors, tensorsVec, 0);
  b.addFieldOffset(Slot.SubGraph.inputs, inputsVec, 0);
  b.addFieldOffset(Slot.SubGraph.outputs, outputsVec, 0);
  b.addFieldOffset(Slot.SubGraph.operators, operatorsVec, 0);
  b.addFieldOffset(Slot.SubGraph.name, subgraphName, 0);
  const subgraph = b.endObject();

  const metadata = metadataNames.map((name, k) => {
    const s = b.createString(name);
    b.startObject(2);
    b.addFieldOffset(Slot.Metadata.name, s, 0);
    b.addFieldInt32(Slot.Metadata.buffer, metadataBuffer[k], 0);
    return b.endObject();
  });

  const tensorMaps = (maps: { name: string; tensor: number }[]): Offset =>
    offsetVector(
      b,
      maps.map((t) => {
        checkIndex(t.tensor, `signature tensor "${t.name}"`);
        const s = b.createString(t.name);
        b.startObject(2);
        b.addFieldOffset(Slot.TensorMap.name, s, 0);
        b.addFieldInt32(Slot.TensorMap.tensor_index, t.tensor, 0);
        return b.endObject();
      }),
    );
  const signatures = m.signatures.map((sig) => {
    const ins = tensorMaps(sig.inputs);
    const outs = tensorMaps(sig.outputs);
    const key = b.createString(sig.key);
    const S = Slot.SignatureDef;
    b.startObject(5);
    b.addFieldOffset(S.inputs, ins, 0);
    b.addFieldOffset(S.outputs, outs, 0);
    b.addFieldOffset(S.signature_key, key, 0);
    b.addFieldInt32(S.subgraph_index, 0, 0);
    return b.endObject();
  });

  const codesVec = offsetVector(b, operatorCodes);
  const subgraphsVec = offsetVector(b, [subgraph]);
  const description = b.createString(m.description);
  const buffersVec = offsetVector(b, buffers);
  // Optional tables are left out entirely when empty, as the converter does.
  const metadataVec = metadata.length ? offsetVector(b, metadata) : 0;
  const signaturesVec = signatures.length ? offsetVector(b, signatures) : 0;
  const S = Slot.Model;
  b.startObject(8);
  // force the version even though 0 would be the default: readers reject a missing version 3.
  b.addFieldInt32(S.version, 3, -1);
  b.addFieldOffset(S.operator_codes, codesVec, 0);
  b.addFieldOffset(S.subgraphs, subgraphsVec, 0);
  b.addFieldOffset(S.description, description, 0);
  b.addFieldOffset(S.buffers, buffersVec, 0);
  if (metadataVec) b.addFieldOffset(S.metadata, metadataVec, 0);
  if (signaturesVec) b.addFieldOffset(S.signature_defs, signaturesVec, 0);
  b.finish(b.endObject(), 'TFL3');
  return b.asUint8Array().slice();
}
