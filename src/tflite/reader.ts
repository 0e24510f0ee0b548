/**
 * .tflite bytes -> TfliteModel, decoding the flatbuffer directly (offsets and vtables), so tests
 * can check what the writer produced and `kdq inspect` can show any converter file.
 */
import { KdqError } from '../errors.ts';
import type { TfliteModel, TfliteOperator, TfliteOptions, TfliteQuantization, TfliteSignature, TfliteTensor } from './model.ts';
import {
  ActivationFunctionType,
  BuiltinOperator,
  BuiltinOptions,
  Padding,
  Slot,
  TensorType,
  enumName,
  slotOffset,
  type ActivationFunctionTypeName,
  type PaddingName,
  type TensorTypeName,
} from './schema.ts';

/** A table position in the file, read through its vtable. */
class Table {
  constructor(
    private readonly v: DataView,
    readonly pos: number,
  ) {}

  private field(slot: number): number {
    const vt = this.pos - this.v.getInt32(this.pos, true);
    const vtSize = this.v.getUint16(vt, true);
    const o = slotOffset(slot);
    if (o >= vtSize) return 0;
    const rel = this.v.getUint16(vt + o, true);
    return rel ? this.pos + rel : 0;
  }
  has(slot: number): boolean {
    return this.field(slot) !== 0;
  }
  int8(slot: number, dflt = 0): number {
    const p = this.field(slot);
    return p ? this.v.getInt8(p) : dflt;
  }
  uint8(slot: number, dflt = 0): number {
    const p = this.field(slot);
    return p ? this.v.getUint8(p) : dflt;
  }
  int32(slot: number, dflt = 0): number {
    const p = this.field(slot);
    return p ? this.v.getInt32(p, true) : dflt;
  }
  uint32(slot: number, dflt = 0): number {
    const p = this.field(slot);
    return p ? this.v.getUint32(p, true) : dflt;
  }
  float32(slot: number, dflt = 0): number {
    const p = this.field(slot);
    return p ? this.v.getFloat32(p, true) : dflt;
  }
  private indirect(p: number): number {
    return p + this.v.getUint32(p, true);
  }
  table(slot: number): Table | undefined {
    const p = this.field(slot);
    return p ? new Table(this.v, this.indirect(p)) : undefined;
  }
  string(slot: number): string | undefined {
    const p = this.field(slot);
    if (!p) return undefined;
    const s = this.indirect(p);
    const len = this.v.getUint32(s, true);
    return new TextDecoder().decode(new Uint8Array(this.v.buffer, this.v.byteOffset + s + 4, len));
  }
  /** Start (after the length) and element count of a vector field. */
  private vector(slot: number): { start: number; length: number } {
    const p = this.field(slot);
    if (!p) return { start: 0, length: 0 };
    const s = this.indirect(p);
    return { start: s + 4, length: this.v.getUint32(s, true) };
  }
  int32s(slot: number): number[] {
    const { start, length } = this.vector(slot);
    return Array.from({ length }, (_, i) => this.v.getInt32(start + 4 * i, true));
  }
  float32s(slot: number): number[] {
    const { start, length } = this.vector(slot);
    return Array.from({ length }, (_, i) => this.v.getFloat32(start + 4 * i, true));
  }
  int64s(slot: number): number[] {
    const { start, length } = this.vector(slot);
    return Array.from({ length }, (_, i) => Number(this.v.getBigInt64(start + 8 * i, true)));
  }
  bytes(slot: number): Uint8Array | undefined {
    const { start, length } = this.vector(slot);
    return length ? new Uint8Array(this.v.buffer, this.v.byteOffset + start, length).slice() : undefined;
  }
  /** Byte offset of a vector's data in the file (for alignment checks); -1 when absent. */
  dataOffset(slot: number): number {
    const { start, length } = this.vector(slot);
    return length ? start : -1;
  }
  tables(slot: number): Table[] {
    const { start, length } = this.vector(slot);
    return Array.from({ length }, (_, i) => new Table(this.v, this.indirect(start + 4 * i)));
  }
}

function fail(why: string): never {
  throw new KdqError('E_TFLITE', `not a readable .tflite file: ${why}; check that the file is a TFLite flatbuffer (identifier TFL3) and not truncated`);
}

function rootTable(bytes: Uint8Array): Table {
  if (bytes.length < 8) fail(`${bytes.length} bytes`);
  const ident = String.fromCharCode(...bytes.subarray(4, 8));
  if (ident !== 'TFL3') fail(`file identifier is "${ident}"`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return new Table(v, v.getUint32(0, true));
}

function activation(t: Table, slot: number): ActivationFunctionTypeName {
  return enumName(ActivationFunctionType, t.int8(slot)) as ActivationFunctionTypeName;
}
function padding(t: Table, slot: number): PaddingName {
  return enumName(Padding, t.int8(slot)) as PaddingName;
}

function readOptions(type: number, t: Table | undefined): TfliteOptions | undefined {
  if (type === BuiltinOptions.NONE || !t) return undefined;
  switch (type) {
    case BuiltinOptions.Conv2DOptions: {
      const S = Slot.Conv2DOptions;
      return {
        type: 'Conv2DOptions',
        padding: padding(t, S.padding),
        strideW: t.int32(S.stride_w),
        strideH: t.int32(S.stride_h),
        activation: activation(t, S.fused_activation_function),
        dilationW: t.int32(S.dilation_w_factor, 1),
        dilationH: t.int32(S.dilation_h_factor, 1),
      };
    }
    case BuiltinOptions.DepthwiseConv2DOptions: {
      const S = Slot.DepthwiseConv2DOptions;
      return {
        type: 'DepthwiseConv2DOptions',
        padding: padding(t, S.padding),
        strideW: t.int32(S.stride_w),
        strideH: t.int32(S.stride_h),
        depthMultiplier: t.int32(S.depth_multiplier),
        activation: activation(t, S.fused_activation_function),
        dilationW: t.int32(S.dilation_w_factor, 1),
        dilationH: t.int32(S.dilation_h_factor, 1),
      };
    }
    case BuiltinOptions.Pool2DOptions: {
      const S = Slot.Pool2DOptions;
      return {
        type: 'Pool2DOptions',
        padding: padding(t, S.padding),
        strideW: t.int32(S.stride_w),
        strideH: t.int32(S.stride_h),
        filterWidth: t.int32(S.filter_width),
        filterHeight: t.int32(S.filter_height),
        activation: activation(t, S.fused_activation_function),
      };
    }
    case BuiltinOptions.FullyConnectedOptions: {
      const S = Slot.FullyConnectedOptions;
      return {
        type: 'FullyConnectedOptions',
        activation: activation(t, S.fused_activation_function),
        keepNumDims: t.uint8(S.keep_num_dims) !== 0,
        asymmetricQuantizeInputs: t.uint8(S.asymmetric_quantize_inputs) !== 0,
      };
    }
    case BuiltinOptions.SoftmaxOptions:
      return { type: 'SoftmaxOptions', beta: t.float32(Slot.SoftmaxOptions.beta) };
    case BuiltinOptions.ReducerOptions:
      return { type: 'ReducerOptions', keepDims: t.uint8(Slot.ReducerOptions.keep_dims) !== 0 };
    case BuiltinOptions.QuantizeOptions:
      return { type: 'QuantizeOptions' };
    case BuiltinOptions.DequantizeOptions:
      return { type: 'DequantizeOptions' };
    default:
      return { type: 'Other', name: enumName(BuiltinOptions, type) };
  }
}

function readQuantization(q: Table | undefined): TfliteQuantization | undefined {
  if (!q) return undefined;
  const S = Slot.QuantizationParameters;
  const scale = q.float32s(S.scale);
  if (scale.length === 0) return undefined;
  const out: TfliteQuantization = { scale, zeroPoint: q.int64s(S.zero_point), quantizedDimension: q.int32(S.quantized_dimension) };
  if (q.has(S.min)) out.min = q.float32s(S.min);
  if (q.has(S.max)) out.max = q.float32s(S.max);
  return out;
}

/** Decodes the first subgraph of a .tflite file. Throws KdqError E_TFLITE on anything else. */
export function readTflite(bytes: Uint8Array): TfliteModel {
  const model = rootTable(bytes);
  const M = Slot.Model;
  const version = model.uint32(M.version);
  if (version !== 3) fail(`schema version ${version}, expected 3`);
  const buffers = model.tables(M.buffers).map((b) => b.bytes(Slot.Buffer.data));
  const codes = model.tables(M.operator_codes).map((c) => {
    const S = Slot.OperatorCode;
    // Files from before builtin_code existed only have the byte field.
    const code = Math.max(c.int8(S.deprecated_builtin_code), c.int32(S.builtin_code));
    return { op: enumName(BuiltinOperator, code), version: c.int32(S.version, 1) };
  });
  const subgraphs = model.tables(M.subgraphs);
  if (subgraphs.length === 0) fail('no subgraph');
  const g = subgraphs[0];
  const G = Slot.SubGraph;
  const tensors: TfliteTensor[] = g.tables(G.tensors).map((t) => {
    const S = Slot.Tensor;
    const out: TfliteTensor = {
      name: t.string(S.name) ?? '',
      shape: t.int32s(S.shape),
      type: enumName(TensorType, t.int8(S.type)) as TensorTypeName,
    };
    const data = buffers[t.uint32(S.buffer)];
    if (data) out.buffer = data;
    const q = readQuantization(t.table(S.quantization));
    if (q) out.quantization = q;
    return out;
  });
  const operators: TfliteOperator[] = g.tables(G.operators).map((o) => {
    const S = Slot.Operator;
    const code = codes[o.uint32(S.opcode_index)] ?? fail(`operator refers to opcode ${o.uint32(S.opcode_index)} of ${codes.length}`);
    const out: TfliteOperator = { op: code.op, version: code.version, inputs: o.int32s(S.inputs), outputs: o.int32s(S.outputs) };
    const options = readOptions(o.uint8(S.builtin_options_type), o.table(S.builtin_options));
    if (options) out.options = options;
    return out;
  });
  const metadata: Record<string, Uint8Array> = {};
  for (const m of model.tables(M.metadata)) {
    metadata[m.string(Slot.Metadata.name) ?? ''] = buffers[m.uint32(Slot.Metadata.buffer)] ?? new Uint8Array(0);
  }
  const maps = (ts: Table[]) => ts.map((t) => ({ name: t.string(Slot.TensorMap.name) ?? '', tensor: t.uint32(Slot.TensorMap.tensor_index) }));
  const signatures: TfliteSignature[] = model.tables(M.signature_defs).map((s) => ({
    key: s.string(Slot.SignatureDef.signature_key) ?? '',
    inputs: maps(s.tables(Slot.SignatureDef.inputs)),
    outputs: maps(s.tables(Slot.SignatureDef.outputs)),
  }));
  return {
    description: model.string(M.description) ?? '',
    subgraphName: g.string(G.name) ?? '',
    tensors,
    operators,
    inputs: g.int32s(G.inputs),
    outputs: g.int32s(G.outputs),
    metadata,
    signatures,
  };
}

/** The raw operator code table: both code fields as written, for checks of old-reader compatibility. */
export function readOperatorCodes(bytes: Uint8Array): { deprecatedBuiltinCode: number; builtinCode: number; version: number }[] {
  const S = Slot.OperatorCode;
  return rootTable(bytes)
    .tables(Slot.Model.operator_codes)
    .map((c) => ({ deprecatedBuiltinCode: c.int8(S.deprecated_builtin_code), builtinCode: c.int32(S.builtin_code), version: c.int32(S.version, 1) }));
}

/** File offset of each buffer's data (-1 for an empty buffer), for alignment checks. */
export function bufferDataOffsets(bytes: Uint8Array): number[] {
  return rootTable(bytes)
    .tables(Slot.Model.buffers)
    .map((b) => b.dataOffset(Slot.Buffer.data));
}

export { inspectTflite } from './inspect.ts';
