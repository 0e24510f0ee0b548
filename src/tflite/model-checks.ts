/**
 * Whether a decoded .tflite model makes sense, beyond its flatbuffer being intact: shapes, sizes,
 * quantization parameters, tensor indices and the order operators produce and consume tensors.
 * A damaged file whose every offset still lands inside it (a flipped byte in a shape, an index, a
 * union type) fails here, so `kdq inspect` never lists it as if it were a model.
 */
import { Damaged } from './flatbuffer-view.ts';
import type { TfliteOperator, TfliteSignature, TfliteTensor } from './model.ts';
import { BuiltinOptions, OP_OPTIONS, TENSOR_TYPE_BITS, enumName, type BuiltinOperatorName } from './schema.ts';

export interface DecodedTensor {
  tensor: TfliteTensor;
  /** Byte offset of the tensor's table. */
  at: number;
  bufferIndex: number;
  shapeSignature?: number[];
  isVariable: boolean;
  /** Sparse tensors store their data in a layout of their own: no size check. */
  sparse: boolean;
}

export interface DecodedOperator {
  operator: TfliteOperator;
  at: number;
  /** The union type byte as written (NONE included), to check against the op. */
  optionsType: number;
}

export interface DecodedSubgraph {
  name: string;
  at: number;
  tensors: DecodedTensor[];
  operators: DecodedOperator[];
  inputs: number[];
  outputs: number[];
}

export interface DecodedModel {
  description: string;
  buffers: { data?: Uint8Array; at: number }[];
  subgraphs: DecodedSubgraph[];
  metadata: { name: string; buffer: number }[];
  signatures: { signature: TfliteSignature; subgraph: number }[];
}

/**
 * Largest tensor accepted: 2 GiB. A .tflite flatbuffer cannot hold more, and the WASM runtimes
 * address 4 GiB in all; a shape that asks for more is a damaged dimension.
 */
export const MAX_TENSOR_BYTES = 2 ** 31;

const ZERO_POINT_RANGE: Partial<Record<string, [number, number]>> = { INT8: [-128, 127], UINT8: [0, 255], INT16: [0, 0] };

/** A name from the file, quoted on one line and cut short: it may be anything. */
export function quoteName(name: string): string {
  return JSON.stringify(name.length > 60 ? `${name.slice(0, 57)}...` : name);
}

function label(i: number, t: TfliteTensor): string {
  return `tensor ${i} ${quoteName(t.name)}`;
}

function checkTensor(d: DecodedTensor, i: number, where: string): void {
  const t = d.tensor;
  const name = `${where}${label(i, t)}`;
  const shape = `[${t.shape.join(',')}]`;
  for (const [k, dim] of t.shape.entries()) {
    if (dim < 0) throw new Damaged(`${name}: dimension ${k} of shape ${shape} is negative (a dynamic size is 1 in shape and -1 in shape_signature)`, d.at);
  }
  if (d.shapeSignature) {
    const sig = d.shapeSignature;
    if (sig.length !== t.shape.length) throw new Damaged(`${name}: shape_signature [${sig.join(',')}] and shape ${shape} differ in rank`, d.at);
    for (const [k, s] of sig.entries()) {
      if (s < -1 || (s !== -1 && s !== t.shape[k])) {
        throw new Damaged(`${name}: shape_signature [${sig.join(',')}] disagrees with shape ${shape} at dimension ${k} (only -1 may differ)`, d.at);
      }
    }
  }
  const bits = TENSOR_TYPE_BITS[t.type];
  const elements = t.shape.reduce((a, b) => a * b, 1);
  const bytes = bits === undefined ? 0 : Math.ceil((elements * bits) / 8);
  if (!(bytes <= MAX_TENSOR_BYTES))
    throw new Damaged(`${name}: shape ${shape} of ${t.type} needs ${bytes} bytes, more than the ${MAX_TENSOR_BYTES} a TFLite file or runtime can hold`, d.at);
  if (t.buffer && bits !== undefined && !d.sparse && t.buffer.length !== bytes) {
    throw new Damaged(`${name}: shape ${shape} of ${t.type} needs ${bytes} bytes but buffer ${d.bufferIndex} holds ${t.buffer.length}`, d.at);
  }
  const q = t.quantization;
  if (q) {
    for (const s of q.scale) {
      if (!Number.isFinite(s) || s < 0) throw new Damaged(`${name}: quantization scale ${s} is not a finite number >= 0`, d.at);
    }
    if (q.zeroPoint.length !== q.scale.length) throw new Damaged(`${name}: ${q.scale.length} quantization scales but ${q.zeroPoint.length} zero points`, d.at);
    const range = ZERO_POINT_RANGE[t.type];
    for (const z of q.zeroPoint) {
      if (range && (z < range[0] || z > range[1])) throw new Damaged(`${name}: zero point ${z} is outside ${t.type}'s [${range[0]}, ${range[1]}]`, d.at);
    }
    // An axis of the tensor; the converter has written a 1-D bias with axis 3 (person_detect in
    // the reference models: the runtimes refuse it, but it is converter output to be shown, not
    // damage), so only axes no TFLite tensor has (rank 8 at most) are refused outright.
    const rank = t.shape.length;
    if (q.quantizedDimension < 0 || q.quantizedDimension >= Math.max(rank, 8)) {
      throw new Damaged(`${name}: quantized_dimension ${q.quantizedDimension} is not an axis of shape ${shape}`, d.at);
    }
    if (q.scale.length > 1 && q.quantizedDimension < rank && t.shape[q.quantizedDimension] !== q.scale.length) {
      throw new Damaged(`${name}: ${q.scale.length} scales along quantized_dimension ${q.quantizedDimension} of shape ${shape}`, d.at);
    }
  }
}

function checkIndex(index: number, count: number, what: string, at: number, optional: boolean): void {
  if (index >= count || index < (optional ? -1 : 0)) {
    throw new Damaged(`${what} names tensor ${index}, but the subgraph has tensors 0 to ${count - 1}${optional ? ' (and -1 for none)' : ''}`, at);
  }
}

function checkOperatorOptions(d: DecodedOperator, name: string): void {
  const want = OP_OPTIONS[d.operator.op as BuiltinOperatorName];
  if (!want) return;
  const got = enumName(BuiltinOptions, d.optionsType);
  if (got === want.type || (got === 'NONE' && !want.required)) return;
  throw new Damaged(`${name}: ${d.operator.op} takes ${want.type === 'NONE' ? 'no options' : want.type} but carries ${got === 'NONE' ? 'none' : got}`, d.at);
}

/**
 * Operators run in order: each reads tensors that exist by then (inputs, constants, variables, or
 * outputs of earlier operators) and writes tensors nothing else writes.
 */
function checkDataflow(g: DecodedSubgraph, where: string): void {
  const written = new Set<number>(g.inputs);
  const ready = (i: number): boolean => {
    const d = g.tensors[i]!;
    return written.has(i) || d.tensor.buffer !== undefined || d.isVariable || d.tensor.shape.includes(0);
  };
  g.operators.forEach((d, k) => {
    const name = `${where}operator ${k} (${d.operator.op})`;
    for (const i of d.operator.inputs) {
      if (i >= 0 && !ready(i)) throw new Damaged(`${name} reads ${label(i, g.tensors[i]!.tensor)} before anything writes it`, d.at);
    }
    for (const i of d.operator.outputs) {
      if (i < 0) continue;
      const t = g.tensors[i]!;
      if (t.tensor.buffer !== undefined) throw new Damaged(`${name} writes ${label(i, t.tensor)}, a constant`, d.at);
      if (written.has(i))
        throw new Damaged(`${name} writes ${label(i, t.tensor)}, which ${g.inputs.includes(i) ? 'is a subgraph input' : 'an earlier operator wrote'}`, d.at);
      written.add(i);
    }
  });
  for (const i of g.outputs) {
    if (!ready(i)) throw new Damaged(`${where}subgraph output ${label(i, g.tensors[i]!.tensor)} is written by no operator`, g.at);
  }
}

function checkSubgraph(g: DecodedSubgraph, index: number): void {
  const where = index === 0 ? '' : `subgraph ${index} `;
  const n = g.tensors.length;
  g.tensors.forEach((d, i) => checkTensor(d, i, where));
  for (const [k, i] of g.inputs.entries()) checkIndex(i, n, `${where}subgraph input ${k}`, g.at, false);
  for (const [k, i] of g.outputs.entries()) checkIndex(i, n, `${where}subgraph output ${k}`, g.at, false);
  g.operators.forEach((d, k) => {
    const name = `${where}operator ${k} (${d.operator.op})`;
    for (const [j, i] of d.operator.inputs.entries()) checkIndex(i, n, `${name} input ${j}`, d.at, true);
    for (const [j, i] of d.operator.outputs.entries()) checkIndex(i, n, `${name} output ${j}`, d.at, true);
    checkOperatorOptions(d, name);
  });
  checkDataflow(g, where);
}

/** Throws `Damaged` for the first thing in the model that cannot be right. */
export function checkModel(m: DecodedModel): void {
  if (m.buffers[0]?.data) throw new Damaged('buffer 0 holds data; the schema reserves it as the empty buffer of every activation', m.buffers[0].at);
  const main = m.subgraphs[0]!;
  if (main.operators.length === 0 || main.inputs.length === 0 || main.outputs.length === 0) {
    throw new Damaged(
      `subgraph 0 has ${main.operators.length} operators, ${main.inputs.length} inputs and ${main.outputs.length} outputs; a model needs at least one of each`,
      main.at,
    );
  }
  m.subgraphs.forEach(checkSubgraph);
}
