/**
 * .tflite bytes -> TfliteModel, decoding the flatbuffer directly (offsets and vtables), so tests
 * can check what the writer produced and `kdq inspect` can show any converter file.
 *
 * Nothing in the file is trusted: every offset, length and index is checked before use
 * (flatbuffer-view.ts), and the decoded model must make sense (model-checks.ts) before it is
 * returned. A file that fails either is refused with `not a readable .tflite file: <what is wrong>
 * at byte N`, exit code 2, never a RangeError and never a listing of garbage.
 */
import { KdqError } from '../errors.ts';
import { Damaged, FlatView, type TableView } from './flatbuffer-view.ts';
import { checkModel, type DecodedModel, type DecodedOperator, type DecodedSubgraph, type DecodedTensor } from './model-checks.ts';
import type { TfliteModel, TfliteOptions, TfliteQuantization, TfliteSignature } from './model.ts';
import {
  ActivationFunctionType,
  BuiltinOperator,
  BuiltinOptions,
  Padding,
  SCHEMA_MAX,
  Slot,
  TensorType,
  enumName,
  type ActivationFunctionTypeName,
  type PaddingName,
  type TensorTypeName,
} from './schema.ts';

function refuse(why: string, source?: string): never {
  const where = source === undefined ? '' : `${source}: `;
  throw new KdqError('E_TFLITE', `not a readable .tflite file: ${where}${why}; the file is damaged or truncated, or not a TFLite model: export it again`, {
    exitCode: 2,
  });
}

/**
 * Decodes the first subgraph of a .tflite file. Throws KdqError E_TFLITE (exit code 2) on anything
 * else; `source` (a file name) prefixes the message.
 */
export function readTflite(bytes: Uint8Array, source?: string): TfliteModel {
  const decoded = guarded(source, () => {
    const m = decodeModel(new FlatView(bytes));
    checkModel(m);
    return m;
  });
  const g = decoded.subgraphs[0]!;
  return {
    description: decoded.description,
    subgraphName: g.name,
    tensors: g.tensors.map((t) => t.tensor),
    operators: g.operators.map((o) => o.operator),
    inputs: g.inputs,
    outputs: g.outputs,
    metadata: Object.fromEntries(decoded.metadata.map((m) => [m.name, decoded.buffers[m.buffer]?.data ?? new Uint8Array(0)])),
    signatures: decoded.signatures.filter((s) => s.subgraph === 0).map((s) => s.signature),
  };
}

/** Runs a decode step, turning a `Damaged` finding into the one KdqError kdq reports. */
function guarded<T>(source: string | undefined, step: () => T): T {
  try {
    return step();
  } catch (e) {
    if (e instanceof Damaged) refuse(e.message, source);
    throw e;
  }
}

function rootTable(f: FlatView): TableView {
  if (f.length < 8) throw new Damaged(`the file has ${f.length} bytes, fewer than the 8 of a flatbuffer header`, 0);
  const ident = String.fromCharCode(...f.bytes.subarray(4, 8));
  if (ident !== 'TFL3') throw new Damaged(`file identifier is ${JSON.stringify(ident)}, expected "TFL3"`, 4);
  return f.tableAt(0, 'the root table (Model)');
}

function activation(t: TableView, slot: number): ActivationFunctionTypeName {
  const v = t.int8(slot, 'fused_activation_function');
  if (v < 0 || v > SCHEMA_MAX.ActivationFunctionType) throw new Damaged(`${t.what}: fused activation ${v} is not an ActivationFunctionType`, t.offsetOf(slot));
  return enumName(ActivationFunctionType, v) as ActivationFunctionTypeName;
}
function padding(t: TableView, slot: number): PaddingName {
  const v = t.int8(slot, 'padding');
  if (v < 0 || v > SCHEMA_MAX.Padding) throw new Damaged(`${t.what}: padding ${v} is neither SAME (0) nor VALID (1)`, t.offsetOf(slot));
  return enumName(Padding, v) as PaddingName;
}
/** An int field that must be at least `min` (strides, filter sizes, dilations). */
function atLeast(t: TableView, slot: number, name: string, min: number, dflt = 0): number {
  const v = t.int32(slot, name, dflt);
  if (v < min) throw new Damaged(`${t.what}: ${name} is ${v}, expected at least ${min}`, t.offsetOf(slot));
  return v;
}

function readOptions(type: number, t: TableView | undefined): TfliteOptions | undefined {
  if (type === BuiltinOptions.NONE || !t) return undefined;
  switch (type) {
    case BuiltinOptions.Conv2DOptions: {
      const S = Slot.Conv2DOptions;
      return {
        type: 'Conv2DOptions',
        padding: padding(t, S.padding),
        strideW: atLeast(t, S.stride_w, 'stride_w', 1),
        strideH: atLeast(t, S.stride_h, 'stride_h', 1),
        activation: activation(t, S.fused_activation_function),
        dilationW: atLeast(t, S.dilation_w_factor, 'dilation_w_factor', 1, 1),
        dilationH: atLeast(t, S.dilation_h_factor, 'dilation_h_factor', 1, 1),
      };
    }
    case BuiltinOptions.DepthwiseConv2DOptions: {
      const S = Slot.DepthwiseConv2DOptions;
      return {
        type: 'DepthwiseConv2DOptions',
        padding: padding(t, S.padding),
        strideW: atLeast(t, S.stride_w, 'stride_w', 1),
        strideH: atLeast(t, S.stride_h, 'stride_h', 1),
        depthMultiplier: atLeast(t, S.depth_multiplier, 'depth_multiplier', 0),
        activation: activation(t, S.fused_activation_function),
        dilationW: atLeast(t, S.dilation_w_factor, 'dilation_w_factor', 1, 1),
        dilationH: atLeast(t, S.dilation_h_factor, 'dilation_h_factor', 1, 1),
      };
    }
    case BuiltinOptions.Pool2DOptions: {
      const S = Slot.Pool2DOptions;
      return {
        type: 'Pool2DOptions',
        padding: padding(t, S.padding),
        strideW: atLeast(t, S.stride_w, 'stride_w', 1),
        strideH: atLeast(t, S.stride_h, 'stride_h', 1),
        filterWidth: atLeast(t, S.filter_width, 'filter_width', 1),
        filterHeight: atLeast(t, S.filter_height, 'filter_height', 1),
        activation: activation(t, S.fused_activation_function),
      };
    }
    case BuiltinOptions.FullyConnectedOptions: {
      const S = Slot.FullyConnectedOptions;
      return {
        type: 'FullyConnectedOptions',
        activation: activation(t, S.fused_activation_function),
        keepNumDims: t.uint8(S.keep_num_dims, 'keep_num_dims') !== 0,
        asymmetricQuantizeInputs: t.uint8(S.asymmetric_quantize_inputs, 'asymmetric_quantize_inputs') !== 0,
      };
    }
    case BuiltinOptions.SoftmaxOptions: {
      const beta = t.float32(Slot.SoftmaxOptions.beta, 'beta');
      if (!Number.isFinite(beta)) throw new Damaged(`${t.what}: beta is ${beta}`, t.offsetOf(Slot.SoftmaxOptions.beta));
      return { type: 'SoftmaxOptions', beta };
    }
    case BuiltinOptions.AddOptions:
      return { type: 'AddOptions', activation: activation(t, Slot.AddOptions.fused_activation_function) };
    case BuiltinOptions.MulOptions:
      return { type: 'MulOptions', activation: activation(t, Slot.MulOptions.fused_activation_function) };
    case BuiltinOptions.ConcatenationOptions:
      return {
        type: 'ConcatenationOptions',
        axis: t.int32(Slot.ConcatenationOptions.axis, 'axis'),
        activation: activation(t, Slot.ConcatenationOptions.fused_activation_function),
      };
    case BuiltinOptions.ReducerOptions:
      return { type: 'ReducerOptions', keepDims: t.uint8(Slot.ReducerOptions.keep_dims, 'keep_dims') !== 0 };
    case BuiltinOptions.QuantizeOptions:
      return { type: 'QuantizeOptions' };
    case BuiltinOptions.DequantizeOptions:
      return { type: 'DequantizeOptions' };
    default:
      return { type: 'Other', name: enumName(BuiltinOptions, type) };
  }
}

function readQuantization(q: TableView | undefined): TfliteQuantization | undefined {
  if (!q) return undefined;
  const S = Slot.QuantizationParameters;
  const scale = q.float32s(S.scale, 'scale') ?? [];
  const zeroPoint = q.int64s(S.zero_point, 'zero_point') ?? [];
  const min = q.float32s(S.min, 'min');
  const max = q.float32s(S.max, 'max');
  const quantizedDimension = q.int32(S.quantized_dimension, 'quantized_dimension');
  if (scale.length === 0) return undefined;
  for (const [k, z] of zeroPoint.entries()) {
    if (z < BigInt(Number.MIN_SAFE_INTEGER) || z > BigInt(Number.MAX_SAFE_INTEGER))
      throw new Damaged(`${q.what}: zero point ${k} is ${z}`, q.offsetOf(S.zero_point));
  }
  const out: TfliteQuantization = { scale, zeroPoint: zeroPoint.map(Number), quantizedDimension };
  if (min) out.min = min;
  if (max) out.max = max;
  return out;
}

interface DecodedBuffer {
  data?: Uint8Array;
  at: number;
}

function readBuffer(b: TableView): DecodedBuffer {
  const S = Slot.Buffer;
  const offset = b.uint64(S.offset, 'offset');
  if (offset > 1n) {
    throw new Damaged(
      `${b.what} keeps its ${b.uint64(S.size, 'size')} bytes outside the flatbuffer (offset ${offset}); kdq reads self-contained files only`,
      b.pos,
    );
  }
  const span = b.bytes(S.data, 'data');
  return span && span.length > 0 ? { data: b.bytesSlice(span), at: b.pos } : { at: b.pos };
}

function readTensor(t: TableView, buffers: DecodedBuffer[]): DecodedTensor {
  const S = Slot.Tensor;
  const type = t.int8(S.type, 'type');
  if (type < 0 || type > TensorType.FLOAT8_E5M2) throw new Damaged(`${t.what}: type ${type} is not a TensorType`, t.offsetOf(S.type));
  const buffer = t.uint32(S.buffer, 'buffer');
  if (buffer >= buffers.length) throw new Damaged(`${t.what}: buffer index ${buffer} is past the model's ${buffers.length} buffers`, t.offsetOf(S.buffer));
  const tensor: DecodedTensor['tensor'] = {
    name: t.string(S.name, 'name') ?? '',
    shape: t.int32s(S.shape, 'shape') ?? [],
    type: enumName(TensorType, type) as TensorTypeName,
  };
  const data = buffers[buffer]!.data;
  if (data) tensor.buffer = data;
  const q = readQuantization(t.table(S.quantization, 'quantization'));
  if (q) tensor.quantization = q;
  const signature = t.int32s(S.shape_signature, 'shape_signature');
  return {
    tensor,
    at: t.pos,
    bufferIndex: buffer,
    isVariable: t.uint8(S.is_variable, 'is_variable') !== 0,
    sparse: t.has(S.sparsity),
    ...(signature ? { shapeSignature: signature } : {}),
  };
}

interface DecodedCode {
  op: string;
  version: number;
}

function readOperatorCode(c: TableView): DecodedCode {
  const S = Slot.OperatorCode;
  const deprecated = c.int8(S.deprecated_builtin_code, 'deprecated_builtin_code');
  const builtin = c.int32(S.builtin_code, 'builtin_code');
  if (deprecated < 0) throw new Damaged(`${c.what}: deprecated_builtin_code ${deprecated} is negative`, c.offsetOf(S.deprecated_builtin_code));
  if (builtin < 0 || builtin > SCHEMA_MAX.BuiltinOperator) {
    throw new Damaged(`${c.what}: builtin_code ${builtin} is not a BuiltinOperator (0 to ${SCHEMA_MAX.BuiltinOperator})`, c.offsetOf(S.builtin_code));
  }
  // The schema keeps the byte field equal to the code below 127 and at 127 above; 0 means an old
  // file without the int field, or ADD.
  const consistent = builtin === 0 || deprecated === 0 || deprecated === Math.min(builtin, SCHEMA_MAX.DeprecatedBuiltinOperator);
  if (!consistent) {
    throw new Damaged(`${c.what}: deprecated_builtin_code ${deprecated} contradicts builtin_code ${builtin}`, c.offsetOf(S.deprecated_builtin_code));
  }
  const version = c.int32(S.version, 'version', 1);
  // Builtin op versions run from 1 to 14 (FULLY_CONNECTED, TFLite 2.21); far beyond that is damage.
  if (version < 1 || version > 255) throw new Damaged(`${c.what}: operator version ${version} is outside 1 to 255`, c.offsetOf(S.version));
  // Files from before builtin_code existed only have the byte field.
  return { op: enumName(BuiltinOperator, Math.max(deprecated, builtin)), version };
}

function readOperator(o: TableView, codes: DecodedCode[]): DecodedOperator {
  const S = Slot.Operator;
  const index = o.uint32(S.opcode_index, 'opcode_index');
  const code = codes[index];
  if (!code) throw new Damaged(`${o.what}: opcode_index ${index} is past the model's ${codes.length} operator codes`, o.offsetOf(S.opcode_index));
  const optionsType = o.uint8(S.builtin_options_type, 'builtin_options_type');
  if (optionsType > SCHEMA_MAX.BuiltinOptions) {
    throw new Damaged(`${o.what}: builtin_options_type ${optionsType} is not a BuiltinOptions member`, o.offsetOf(S.builtin_options_type));
  }
  const table = o.table(S.builtin_options, 'builtin_options');
  if (optionsType !== BuiltinOptions.NONE && !table) {
    throw new Damaged(
      `${o.what}: builtin_options_type says ${enumName(BuiltinOptions, optionsType)} but the options table is missing`,
      o.offsetOf(S.builtin_options_type),
    );
  }
  const operator: DecodedOperator['operator'] = {
    op: code.op,
    version: code.version,
    inputs: o.int32s(S.inputs, 'inputs') ?? [],
    outputs: o.int32s(S.outputs, 'outputs') ?? [],
  };
  const options = readOptions(optionsType, table);
  if (options) operator.options = options;
  return { operator, at: o.pos, optionsType };
}

function readSubgraph(g: TableView, buffers: DecodedBuffer[], codes: DecodedCode[]): DecodedSubgraph {
  const G = Slot.SubGraph;
  return {
    name: g.string(G.name, 'name') ?? '',
    at: g.pos,
    tensors: g.tables(G.tensors, 'tensors', (i) => `${g.what} tensor ${i}`).map((t) => readTensor(t, buffers)),
    operators: g.tables(G.operators, 'operators', (i) => `${g.what} operator ${i}`).map((o) => readOperator(o, codes)),
    inputs: g.int32s(G.inputs, 'inputs') ?? [],
    outputs: g.int32s(G.outputs, 'outputs') ?? [],
  };
}

function decodeModel(f: FlatView): DecodedModel {
  const model = rootTable(f);
  const M = Slot.Model;
  const version = model.uint32(M.version, 'version');
  if (version !== 3) throw new Damaged(`schema version ${version}, expected 3`, model.offsetOf(M.version));
  const buffers = model.tables(M.buffers, 'buffers', (i) => `buffer ${i}`).map(readBuffer);
  const codes = model.tables(M.operator_codes, 'operator_codes', (i) => `operator code ${i}`).map(readOperatorCode);
  const subgraphs = model.tables(M.subgraphs, 'subgraphs', (i) => `subgraph ${i}`).map((g) => readSubgraph(g, buffers, codes));
  if (subgraphs.length === 0) throw new Damaged('the model has no subgraph', model.offsetOf(M.subgraphs));
  const metadata = model
    .tables(M.metadata, 'metadata', (i) => `metadata ${i}`)
    .map((m) => {
      const buffer = m.uint32(Slot.Metadata.buffer, 'buffer');
      if (buffer >= buffers.length)
        throw new Damaged(`${m.what}: buffer index ${buffer} is past the model's ${buffers.length} buffers`, m.offsetOf(Slot.Metadata.buffer));
      return { name: m.string(Slot.Metadata.name, 'name') ?? '', buffer };
    });
  const signatures = model
    .tables(M.signature_defs, 'signature_defs', (i) => `signature ${i}`)
    .map((s) => {
      const S = Slot.SignatureDef;
      const subgraph = s.uint32(S.subgraph_index, 'subgraph_index');
      const g = subgraphs[subgraph];
      if (!g) throw new Damaged(`${s.what}: subgraph_index ${subgraph} is past the model's ${subgraphs.length} subgraphs`, s.offsetOf(S.subgraph_index));
      const maps = (slot: number, name: string) =>
        s
          .tables(slot, name, (i) => `${s.what} ${name} ${i}`)
          .map((t) => {
            const tensor = t.uint32(Slot.TensorMap.tensor_index, 'tensor_index');
            if (tensor >= g.tensors.length) {
              throw new Damaged(
                `${t.what}: tensor_index ${tensor} is past subgraph ${subgraph}'s ${g.tensors.length} tensors`,
                t.offsetOf(Slot.TensorMap.tensor_index),
              );
            }
            return { name: t.string(Slot.TensorMap.name, 'name') ?? '', tensor };
          });
      const signature: TfliteSignature = {
        key: s.string(S.signature_key, 'signature_key') ?? '',
        inputs: maps(S.inputs, 'inputs'),
        outputs: maps(S.outputs, 'outputs'),
      };
      return { signature, subgraph };
    });
  return { description: model.string(M.description, 'description') ?? '', buffers, subgraphs, metadata, signatures };
}

/** The raw operator code table: both code fields as written, for checks of old-reader compatibility. */
export function readOperatorCodes(bytes: Uint8Array): { deprecatedBuiltinCode: number; builtinCode: number; version: number }[] {
  const S = Slot.OperatorCode;
  return guarded(undefined, () =>
    rootTable(new FlatView(bytes))
      .tables(Slot.Model.operator_codes, 'operator_codes', (i) => `operator code ${i}`)
      .map((c) => ({
        deprecatedBuiltinCode: c.int8(S.deprecated_builtin_code, 'deprecated_builtin_code'),
        builtinCode: c.int32(S.builtin_code, 'builtin_code'),
        version: c.int32(S.version, 'version', 1),
      })),
  );
}

/** File offset of each buffer's data (-1 for an empty buffer), for alignment checks. */
export function bufferDataOffsets(bytes: Uint8Array): number[] {
  return guarded(undefined, () =>
    rootTable(new FlatView(bytes))
      .tables(Slot.Model.buffers, 'buffers', (i) => `buffer ${i}`)
      .map((b) => {
        const span = b.bytes(Slot.Buffer.data, 'data');
        return span && span.length > 0 ? span.start : -1;
      }),
  );
}
