/**
 * The parts of an ONNX model (onnx.proto, protobuf wire format) a teacher needs before it runs:
 * the graph's inputs and outputs with their shapes, the nodes (to find a final Softmax), the
 * initializers (to count parameters and find external data files) and the opset imports. Every
 * field of the model and graph is walked, skipped ones included, so a file cut short anywhere is
 * reported with the offset where it ends, before the runtime sees it.
 */

/** A structural problem at a byte offset; the caller names the file. */
export class ProtoError extends Error {
  readonly offset: number;
  constructor(message: string, offset: number) {
    super(message);
    this.name = 'ProtoError';
    this.offset = offset;
  }
}

/** One dimension as written: a number, a symbolic name (`batch`), or null when neither is set. */
export type OnnxDim = number | string | null;

export interface OnnxValueInfo {
  name: string;
  /** ONNX TensorProto.DataType code (1 = float); 0 for a non-tensor value. */
  elemType: number;
  /** Null when the value has no shape in the file (unknown rank). */
  dims: OnnxDim[] | null;
}

export interface OnnxNode {
  name: string;
  opType: string;
  /** '' is the default ONNX domain ('ai.onnx'). */
  domain: string;
  inputs: string[];
  outputs: string[];
}

export interface OnnxInitializer {
  name: string;
  dims: number[];
  dataType: number;
  /** The `location` of external data, relative to the model file; absent for data inside the file. */
  externalLocation?: string;
}

export interface OnnxModel {
  irVersion: number;
  producerName: string;
  producerVersion: string;
  /** Domain ('' for ai.onnx) -> opset version. */
  opsets: Record<string, number>;
  graphName: string;
  nodes: OnnxNode[];
  initializers: OnnxInitializer[];
  /** Graph inputs, initializers listed as inputs (older exporters) included. */
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
}

/** ONNX TensorProto.DataType codes kdq names in messages. */
export const ONNX_DATA_TYPES: Record<number, string> = {
  1: 'float32',
  2: 'uint8',
  3: 'int8',
  4: 'uint16',
  5: 'int16',
  6: 'int32',
  7: 'int64',
  8: 'string',
  9: 'bool',
  10: 'float16',
  11: 'float64',
  12: 'uint32',
  13: 'uint64',
  16: 'bfloat16',
};

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;
const TWO_64 = 2 ** 64;
const TWO_63 = 2 ** 63;

/** A bounded view of protobuf bytes: [pos, end) of `bytes`, with offsets relative to the file. */
class Reader {
  pos: number;
  constructor(
    readonly bytes: Uint8Array,
    start: number,
    readonly end: number,
    readonly what: string,
  ) {
    this.pos = start;
  }

  done(): boolean {
    return this.pos >= this.end;
  }

  private cut(what: string): never {
    throw new ProtoError(`the data ends at byte ${this.end} inside ${what} of ${this.what}`, this.pos);
  }

  varint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) this.cut('a number');
      const b = this.bytes[this.pos++]!;
      value += (b & 0x7f) * scale;
      if (b < 0x80) return value >= TWO_63 ? value - TWO_64 : value;
      scale *= 128;
    }
    throw new ProtoError(`a number in ${this.what} is longer than 10 bytes`, this.pos);
  }

  /** Returns [field, wireType] of the next key. */
  key(): [number, number] {
    const start = this.pos;
    const k = this.varint();
    const field = Math.floor(k / 8);
    const wire = k % 8;
    if (field < 1 || ![WIRE_VARINT, WIRE_I64, WIRE_LEN, WIRE_I32].includes(wire)) {
      throw new ProtoError(`bytes that are not a protobuf field (key ${k}) in ${this.what}`, start);
    }
    return [field, wire];
  }

  /** A length-delimited field's [start, end). */
  span(): [number, number] {
    const len = this.varint();
    const start = this.pos;
    if (len < 0 || start + len > this.end) {
      throw new ProtoError(`a field of ${len} bytes at byte ${start} runs past the end (byte ${this.end}) of ${this.what}`, start);
    }
    this.pos = start + len;
    return [start, start + len];
  }

  sub(what: string): Reader {
    const [s, e] = this.span();
    return new Reader(this.bytes, s, e, what);
  }

  string(): string {
    const [s, e] = this.span();
    return new TextDecoder().decode(this.bytes.subarray(s, e));
  }

  skip(wire: number): void {
    if (wire === WIRE_VARINT) this.varint();
    else if (wire === WIRE_LEN) this.span();
    else {
      const n = wire === WIRE_I64 ? 8 : 4;
      if (this.pos + n > this.end) this.cut('a fixed-size number');
      this.pos += n;
    }
  }

  /** A repeated int64 field: packed (one length-delimited run) or one varint per key. */
  int64s(wire: number, into: number[]): void {
    if (wire === WIRE_LEN) {
      const r = this.sub(this.what);
      while (!r.done()) into.push(r.varint());
    } else into.push(this.varint());
  }
}

/** Calls `on(field, wire)` for each field; `on` must consume the field or return false to skip it. */
function fields(r: Reader, on: (field: number, wire: number) => boolean): void {
  while (!r.done()) {
    const [field, wire] = r.key();
    if (!on(field, wire)) r.skip(wire);
  }
}

function expectWire(r: Reader, wire: number, want: number, field: string): void {
  if (wire !== want) throw new ProtoError(`field ${field} of ${r.what} has wire type ${wire}, expected ${want}`, r.pos);
}

function readDim(r: Reader): OnnxDim {
  let dim: OnnxDim = null;
  fields(r, (f, w) => {
    if (f === 1 && w === WIRE_VARINT) dim = r.varint();
    else if (f === 2 && w === WIRE_LEN) dim = r.string();
    else return false;
    return true;
  });
  return dim;
}

function readValueInfo(r: Reader): OnnxValueInfo {
  const info: OnnxValueInfo = { name: '', elemType: 0, dims: null };
  fields(r, (f, w) => {
    if (f === 1 && w === WIRE_LEN) info.name = r.string();
    else if (f === 2 && w === WIRE_LEN) {
      const type = r.sub('a value type');
      fields(type, (tf, tw) => {
        if (tf !== 1 || tw !== WIRE_LEN) return false; // sequence, map, optional: not a tensor
        const tensor = type.sub('a tensor type');
        fields(tensor, (ef, ew) => {
          if (ef === 1 && ew === WIRE_VARINT) info.elemType = tensor.varint();
          else if (ef === 2 && ew === WIRE_LEN) {
            const shape = tensor.sub('a tensor shape');
            info.dims = [];
            fields(shape, (sf, sw) => {
              if (sf !== 1 || sw !== WIRE_LEN) return false;
              info.dims!.push(readDim(shape.sub('a dimension')));
              return true;
            });
          } else return false;
          return true;
        });
        return true;
      });
    } else return false;
    return true;
  });
  return info;
}

function readNode(r: Reader): OnnxNode {
  const node: OnnxNode = { name: '', opType: '', domain: '', inputs: [], outputs: [] };
  fields(r, (f, w) => {
    if (w !== WIRE_LEN) return false;
    if (f === 1) node.inputs.push(r.string());
    else if (f === 2) node.outputs.push(r.string());
    else if (f === 3) node.name = r.string();
    else if (f === 4) node.opType = r.string();
    else if (f === 7) node.domain = r.string();
    else return false; // attributes (5), doc string (6): checked for length only
    return true;
  });
  return node;
}

function readInitializer(r: Reader): OnnxInitializer {
  const init: OnnxInitializer = { name: '', dims: [], dataType: 0 };
  let external = false;
  let location: string | undefined;
  fields(r, (f, w) => {
    if (f === 1) r.int64s(w, init.dims);
    else if (f === 2 && w === WIRE_VARINT) init.dataType = r.varint();
    else if (f === 8 && w === WIRE_LEN) init.name = r.string();
    else if (f === 14 && w === WIRE_VARINT) external = r.varint() === 1;
    else if (f === 13 && w === WIRE_LEN) {
      const entry = r.sub('an external data entry');
      let key = '';
      let value = '';
      fields(entry, (ef, ew) => {
        if (ew !== WIRE_LEN) return false;
        if (ef === 1) key = entry.string();
        else if (ef === 2) value = entry.string();
        else return false;
        return true;
      });
      if (key === 'location') location = value;
    } else return false;
    return true;
  });
  if (external && location !== undefined) init.externalLocation = location;
  return init;
}

function readGraph(r: Reader, model: OnnxModel): void {
  fields(r, (f, w) => {
    if (w !== WIRE_LEN) return false;
    if (f === 1) model.nodes.push(readNode(r.sub('a node')));
    else if (f === 2) model.graphName = r.string();
    else if (f === 5) model.initializers.push(readInitializer(r.sub('an initializer')));
    else if (f === 11) model.inputs.push(readValueInfo(r.sub('a graph input')));
    else if (f === 12) model.outputs.push(readValueInfo(r.sub('a graph output')));
    else return false;
    return true;
  });
}

/**
 * Decodes an ONNX ModelProto. Throws ProtoError for bytes that are not one (a key that is not a
 * protobuf field, a field running past the end, no graph, no opset import).
 */
export function readOnnx(bytes: Uint8Array): OnnxModel {
  const model: OnnxModel = {
    irVersion: 0,
    producerName: '',
    producerVersion: '',
    opsets: {},
    graphName: '',
    nodes: [],
    initializers: [],
    inputs: [],
    outputs: [],
  };
  const r = new Reader(bytes, 0, bytes.length, 'the model');
  let graphs = 0;
  fields(r, (f, w) => {
    if (f === 1) {
      expectWire(r, w, WIRE_VARINT, 'ir_version');
      model.irVersion = r.varint();
    } else if (f === 2 && w === WIRE_LEN) model.producerName = r.string();
    else if (f === 3 && w === WIRE_LEN) model.producerVersion = r.string();
    else if (f === 7) {
      expectWire(r, w, WIRE_LEN, 'graph');
      readGraph(r.sub('the graph'), model);
      graphs++;
    } else if (f === 8 && w === WIRE_LEN) {
      const op = r.sub('an opset import');
      let domain = '';
      let version = 0;
      fields(op, (of, ow) => {
        if (of === 1 && ow === WIRE_LEN) domain = op.string();
        else if (of === 2 && ow === WIRE_VARINT) version = op.varint();
        else return false;
        return true;
      });
      model.opsets[domain === 'ai.onnx' ? '' : domain] = version;
    } else return false;
    return true;
  });
  if (model.irVersion <= 0) throw new ProtoError('no ir_version: this is not an ONNX model', 0);
  if (graphs !== 1) throw new ProtoError(graphs === 0 ? 'no graph: the file is truncated or not an ONNX model' : `${graphs} graphs`, 0);
  if (Object.keys(model.opsets).length === 0) throw new ProtoError('no opset import: the file is truncated or not an ONNX model', bytes.length);
  return model;
}

/** Element count of an initializer (1 for a scalar). */
export function elementCount(dims: readonly number[]): number {
  return dims.reduce((n, d) => n * d, 1);
}
