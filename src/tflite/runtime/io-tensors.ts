/**
 * Reads what a runtime needs to know about a .tflite file's inputs and outputs (name, shape, type,
 * scale and zero point) straight from the flatbuffer. Neither runtime's JS API exposes the
 * quantization parameters, and reading the file first also turns garbage bytes into a clear
 * E_TFLITE error before any WASM code sees them.
 */
import { ByteBuffer } from 'flatbuffers';
import { KdqError } from '../../errors.ts';
import type { TensorDtype, TensorInfo } from './types.ts';

/** schema.fbs TensorType values kdq's runtimes can feed or read. */
const DTYPE_BY_TENSOR_TYPE: Record<number, TensorDtype> = { 0: 'float32', 2: 'int32', 3: 'uint8', 9: 'int8' };
const TENSOR_TYPE_NAMES = [
  'FLOAT32',
  'FLOAT16',
  'INT32',
  'UINT8',
  'INT64',
  'STRING',
  'BOOL',
  'INT16',
  'COMPLEX64',
  'INT8',
  'FLOAT64',
  'COMPLEX128',
  'UINT64',
  'RESOURCE',
  'VARIANT',
  'UINT32',
  'UINT16',
  'INT4',
  'BFLOAT16',
];

// Field slots from schema.fbs (vtable offset = 4 + 2 * slot).
const MODEL_SUBGRAPHS = 2;
const MODEL_SIGNATURE_DEFS = 7;
const SIGNATURE_OUTPUTS = 1;
const SIGNATURE_SUBGRAPH_INDEX = 4;
const TENSOR_MAP_NAME = 0;
const TENSOR_MAP_TENSOR_INDEX = 1;
const SUBGRAPH_TENSORS = 0;
const SUBGRAPH_INPUTS = 1;
const SUBGRAPH_OUTPUTS = 2;
const TENSOR_SHAPE = 0;
const TENSOR_TYPE = 1;
const TENSOR_NAME = 3;
const TENSOR_QUANTIZATION = 4;
const QUANT_SCALE = 2;
const QUANT_ZERO_POINT = 3;

export interface IoTensors {
  inputs: TensorInfo[];
  outputs: TensorInfo[];
  /**
   * Signature output name -> position in `outputs`, from the file's signature_defs for subgraph 0
   * (empty without them). Runtimes that speak signatures name outputs this way, in their own order.
   */
  outputAliases: Map<string, number>;
}

class Corrupt extends Error {}

/** Bounds-checked flatbuffer access: ByteBuffer reads past the end as zeros instead of failing. */
class Reader {
  private readonly bb: ByteBuffer;
  constructor(private readonly bytes: Uint8Array) {
    this.bb = new ByteBuffer(bytes);
  }
  private check(pos: number, size: number, what: string): void {
    if (!Number.isInteger(pos) || pos < 0 || pos + size > this.bytes.length) {
      throw new Corrupt(`${what} at byte ${pos} lies outside the ${this.bytes.length}-byte file`);
    }
  }
  root(): number {
    this.check(0, 8, 'the root offset');
    return this.deref(0, 'the root table');
  }
  private deref(pos: number, what: string): number {
    this.check(pos, 4, what);
    const target = pos + this.bb.readUint32(pos);
    this.check(target, 4, what);
    return target;
  }
  /** Absolute position of a table field, or 0 when the field is absent. */
  private field(table: number, slot: number, what: string): number {
    this.check(table, 4, what);
    const vtable = table - this.bb.readInt32(table);
    this.check(vtable, 4, `the vtable of ${what}`);
    const vtableSize = this.bb.readUint16(vtable);
    const at = 4 + 2 * slot;
    if (at + 2 > vtableSize) return 0;
    this.check(vtable + at, 2, `the vtable of ${what}`);
    const rel = this.bb.readUint16(vtable + at);
    return rel === 0 ? 0 : table + rel;
  }
  table(table: number, slot: number, what: string): number {
    const p = this.field(table, slot, what);
    return p === 0 ? 0 : this.deref(p, what);
  }
  uint32(table: number, slot: number, what: string): number {
    const p = this.field(table, slot, what);
    if (p === 0) return 0;
    this.check(p, 4, what);
    return this.bb.readUint32(p);
  }
  int8(table: number, slot: number, what: string): number {
    const p = this.field(table, slot, what);
    if (p === 0) return 0;
    this.check(p, 1, what);
    return this.bb.readInt8(p);
  }
  /** Position of the first element and the length of a vector field (length 0 when absent). */
  vector(table: number, slot: number, elementSize: number, what: string): { start: number; length: number } {
    const p = this.field(table, slot, what);
    if (p === 0) return { start: 0, length: 0 };
    const v = this.deref(p, what);
    const length = this.bb.readUint32(v);
    this.check(v + 4, length * elementSize, what);
    return { start: v + 4, length };
  }
  int32s(table: number, slot: number, what: string): number[] {
    const { start, length } = this.vector(table, slot, 4, what);
    return Array.from({ length }, (_, i) => this.bb.readInt32(start + 4 * i));
  }
  float32s(table: number, slot: number, what: string): number[] {
    const { start, length } = this.vector(table, slot, 4, what);
    return Array.from({ length }, (_, i) => this.bb.readFloat32(start + 4 * i));
  }
  int64s(table: number, slot: number, what: string): number[] {
    const { start, length } = this.vector(table, slot, 8, what);
    return Array.from({ length }, (_, i) => Number(this.bb.readInt64(start + 8 * i)));
  }
  tableAt(vectorStart: number, index: number, what: string): number {
    return this.deref(vectorStart + 4 * index, what);
  }
  string(table: number, slot: number, what: string): string {
    const { start, length } = this.vector(table, slot, 1, what);
    return new TextDecoder().decode(this.bytes.subarray(start, start + length));
  }
}

/** True when the bytes carry the .tflite file identifier "TFL3" at offset 4. */
export function hasTfliteIdentifier(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && String.fromCharCode(bytes[4]!, bytes[5]!, bytes[6]!, bytes[7]!) === 'TFL3';
}

/**
 * Inputs and outputs of subgraph 0. Throws E_TFLITE for bytes that are not a readable .tflite file
 * and for I/O tensor types no kdq runtime can feed (e.g. INT16, STRING).
 */
export function readIoTensors(bytes: Uint8Array): IoTensors {
  if (!hasTfliteIdentifier(bytes)) {
    const head = Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new KdqError(
      'E_TFLITE',
      `not a .tflite file: expected the identifier "TFL3" at byte 4, found bytes [${head}] (${bytes.length} bytes in all); ` +
        'pass the bytes of a file written by kdq export or the TFLite converter',
    );
  }
  try {
    const r = new Reader(bytes);
    const model = r.root();
    const subgraphs = r.vector(model, MODEL_SUBGRAPHS, 4, 'Model.subgraphs');
    if (subgraphs.length === 0) throw new Corrupt('the model has no subgraph');
    const sg = r.tableAt(subgraphs.start, 0, 'subgraph 0');
    const tensors = r.vector(sg, SUBGRAPH_TENSORS, 4, 'SubGraph.tensors');
    const info = (index: number, role: string): TensorInfo => {
      if (index < 0 || index >= tensors.length) {
        throw new Corrupt(`${role} names tensor ${index}, but subgraph 0 has ${tensors.length} tensors`);
      }
      const t = r.tableAt(tensors.start, index, `tensor ${index}`);
      const type = r.int8(t, TENSOR_TYPE, `tensor ${index} type`);
      const dtype = DTYPE_BY_TENSOR_TYPE[type];
      const name = r.string(t, TENSOR_NAME, `tensor ${index} name`);
      if (dtype === undefined) {
        throw new KdqError(
          'E_TFLITE',
          `${role} tensor "${name}" has type ${TENSOR_TYPE_NAMES[type] ?? type}; kdq runs only FLOAT32, INT8, UINT8 and INT32 ` +
            'inputs and outputs: export with inference input/output type float32, int8 or uint8',
        );
      }
      const shape = r.int32s(t, TENSOR_SHAPE, `tensor ${index} shape`);
      const result: TensorInfo = { name, shape, dtype };
      const q = r.table(t, TENSOR_QUANTIZATION, `tensor ${index} quantization`);
      if (q !== 0 && (dtype === 'int8' || dtype === 'uint8')) {
        const scale = r.float32s(q, QUANT_SCALE, `tensor ${index} scale`);
        const zeroPoint = r.int64s(q, QUANT_ZERO_POINT, `tensor ${index} zero_point`);
        if (scale.length === 1) result.quantization = { scale: scale[0]!, zeroPoint: zeroPoint[0] ?? 0 };
      }
      return result;
    };
    const inputs = r.int32s(sg, SUBGRAPH_INPUTS, 'SubGraph.inputs').map((i, k) => info(i, `input ${k}`));
    const outputIndices = r.int32s(sg, SUBGRAPH_OUTPUTS, 'SubGraph.outputs');
    const outputs = outputIndices.map((i, k) => info(i, `output ${k}`));
    const outputAliases = new Map<string, number>();
    const sigs = r.vector(model, MODEL_SIGNATURE_DEFS, 4, 'Model.signature_defs');
    for (let s = 0; s < sigs.length; s++) {
      const sig = r.tableAt(sigs.start, s, `signature ${s}`);
      if (r.uint32(sig, SIGNATURE_SUBGRAPH_INDEX, `signature ${s} subgraph_index`) !== 0) continue;
      const maps = r.vector(sig, SIGNATURE_OUTPUTS, 4, `signature ${s} outputs`);
      for (let k = 0; k < maps.length; k++) {
        const tm = r.tableAt(maps.start, k, `signature ${s} output ${k}`);
        const position = outputIndices.indexOf(r.uint32(tm, TENSOR_MAP_TENSOR_INDEX, `signature ${s} output ${k} tensor_index`));
        if (position >= 0) outputAliases.set(r.string(tm, TENSOR_MAP_NAME, `signature ${s} output ${k} name`), position);
      }
      break;
    }
    return { inputs, outputs, outputAliases };
  } catch (e) {
    if (!(e instanceof Corrupt)) throw e;
    throw new KdqError('E_TFLITE', `corrupt .tflite file (${bytes.length} bytes): ${e.message}; the file is truncated or damaged, export it again`, {
      cause: e,
    });
  }
}
