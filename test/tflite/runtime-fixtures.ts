/**
 * Tiny .tflite files built by hand with the flatbuffers Builder, and their expected outputs computed
 * in plain JS, so the runtime tests depend neither on kdq's writer nor on converter files.
 *
 * Every model is one FULLY_CONNECTED layer y = W x + b (W: [out, in]), in four variants:
 * float32; int8 with float I/O (QUANTIZE -> FC -> DEQUANTIZE); int8 I/O; uint8 I/O
 * (QUANTIZE uint8->int8 -> FC -> QUANTIZE int8->uint8), laid out as the converter does (NOTES.md).
 */
import { Builder } from 'flatbuffers';
import { createRng } from '../../src/util/random.ts';

// schema.fbs values.
const TensorType = { FLOAT32: 0, INT32: 2, UINT8: 3, INT8: 9 } as const;
const Op = { DEQUANTIZE: 6, FULLY_CONNECTED: 9, QUANTIZE: 114 } as const;
const FULLY_CONNECTED_OPTIONS = 8; // index in the BuiltinOptions union

interface TensorSpec {
  name: string;
  shape: number[];
  type: number;
  data?: Uint8Array;
  quant?: { scale: number; zeroPoint: number };
}
interface OpSpec {
  code: number;
  version: number;
  inputs: number[];
  outputs: number[];
}

function bytesOf(a: Float32Array | Int32Array | Int8Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Aliases a "serving_default" signature gives the graph's tensors: name -> tensor index. */
interface SignatureSpec {
  inputs: Array<[string, number]>;
  outputs: Array<[string, number]>;
}

/** A one-subgraph model: tensors, ops in execution order, graph input and output indices. */
function buildModel(tensors: TensorSpec[], ops: OpSpec[], inputs: number[], outputs: number[], signature?: SignatureSpec): Uint8Array {
  const b = new Builder(1024);
  const intVector = (xs: number[]): number => {
    b.startVector(4, xs.length, 4);
    for (let i = xs.length - 1; i >= 0; i--) b.addInt32(xs[i]!);
    return b.endVector();
  };
  const offsetVector = (xs: number[]): number => {
    b.startVector(4, xs.length, 4);
    for (let i = xs.length - 1; i >= 0; i--) b.addOffset(xs[i]!);
    return b.endVector();
  };

  // buffers[0] is the empty sentinel; each constant tensor gets its own buffer.
  const bufferOffsets: number[] = [];
  const tensorBuffer: number[] = [];
  const addBuffer = (data?: Uint8Array): number => {
    let dataVec = 0;
    if (data) {
      b.startVector(1, data.length, 16);
      for (let i = data.length - 1; i >= 0; i--) b.addInt8(data[i]!);
      dataVec = b.endVector();
    }
    b.startObject(1);
    if (dataVec) b.addFieldOffset(0, dataVec, 0);
    bufferOffsets.push(b.endObject());
    return bufferOffsets.length - 1;
  };
  addBuffer();
  for (const t of tensors) tensorBuffer.push(t.data ? addBuffer(t.data) : 0);

  const tensorOffsets = tensors.map((t, i) => {
    const name = b.createString(t.name);
    const shape = intVector(t.shape);
    let quant = 0;
    if (t.quant) {
      const scale = floatVector(b, [t.quant.scale]);
      b.startVector(8, 1, 8);
      b.addInt64(BigInt(t.quant.zeroPoint));
      const zp = b.endVector();
      b.startObject(7);
      b.addFieldOffset(2, scale, 0);
      b.addFieldOffset(3, zp, 0);
      quant = b.endObject();
    }
    b.startObject(5);
    b.addFieldOffset(0, shape, 0);
    b.addFieldInt8(1, t.type, -1); // default -1: always written, as the converter does
    b.addFieldInt32(2, tensorBuffer[i]!, -1);
    b.addFieldOffset(3, name, 0);
    if (quant) b.addFieldOffset(4, quant, 0);
    return b.endObject();
  });

  const codes = [...new Set(ops.map((o) => `${o.code}:${o.version}`))];
  const opOffsets = ops.map((o) => {
    const ins = intVector(o.inputs);
    const outs = intVector(o.outputs);
    let options = 0;
    if (o.code === Op.FULLY_CONNECTED) {
      b.startObject(1);
      options = b.endObject(); // all defaults: no fused activation
    }
    b.startObject(5);
    b.addFieldInt32(0, codes.indexOf(`${o.code}:${o.version}`), -1);
    b.addFieldOffset(1, ins, 0);
    b.addFieldOffset(2, outs, 0);
    if (options) {
      b.addFieldInt8(3, FULLY_CONNECTED_OPTIONS, 0);
      b.addFieldOffset(4, options, 0);
    }
    return b.endObject();
  });
  const codeOffsets = codes.map((c) => {
    const [code, version] = c.split(':').map(Number) as [number, number];
    b.startObject(4);
    b.addFieldInt8(0, Math.min(code, 127), -1);
    b.addFieldInt32(2, version, 0);
    b.addFieldInt32(3, code, -1);
    return b.endObject();
  });

  const sgName = b.createString('main');
  const sgTensors = offsetVector(tensorOffsets);
  const sgInputs = intVector(inputs);
  const sgOutputs = intVector(outputs);
  const sgOps = offsetVector(opOffsets);
  b.startObject(5);
  b.addFieldOffset(0, sgTensors, 0);
  b.addFieldOffset(1, sgInputs, 0);
  b.addFieldOffset(2, sgOutputs, 0);
  b.addFieldOffset(3, sgOps, 0);
  b.addFieldOffset(4, sgName, 0);
  const subgraph = b.endObject();

  const opcodeVec = offsetVector(codeOffsets);
  const subgraphVec = offsetVector([subgraph]);
  const description = b.createString('kdq runtime test fixture');
  const bufferVec = offsetVector(bufferOffsets);
  let signatureVec = 0;
  if (signature) {
    const tensorMaps = (pairs: Array<[string, number]>): number =>
      offsetVector(
        pairs.map(([name, index]) => {
          const n = b.createString(name);
          b.startObject(2);
          b.addFieldOffset(0, n, 0);
          b.addFieldInt32(1, index, -1);
          return b.endObject();
        }),
      );
    const ins = tensorMaps(signature.inputs);
    const outs = tensorMaps(signature.outputs);
    const key = b.createString('serving_default');
    b.startObject(5);
    b.addFieldOffset(0, ins, 0);
    b.addFieldOffset(1, outs, 0);
    b.addFieldOffset(2, key, 0);
    b.addFieldInt32(4, 0, -1);
    signatureVec = offsetVector([b.endObject()]);
  }
  b.startObject(8);
  b.addFieldInt32(0, 3, 0);
  b.addFieldOffset(1, opcodeVec, 0);
  b.addFieldOffset(2, subgraphVec, 0);
  b.addFieldOffset(3, description, 0);
  b.addFieldOffset(4, bufferVec, 0);
  if (signatureVec) b.addFieldOffset(7, signatureVec, 0);
  b.finish(b.endObject(), 'TFL3');
  return b.asUint8Array().slice();
}

function floatVector(b: Builder, xs: number[]): number {
  b.startVector(4, xs.length, 4);
  for (let i = xs.length - 1; i >= 0; i--) b.addFloat32(xs[i]!);
  return b.endVector();
}

/** Rounds half away from zero, like std::round in TFLite's reference kernels. */
export function roundHalfAway(v: number): number {
  return v < 0 ? -Math.round(-v) : Math.round(v);
}

const clamp = (v: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, v));

/** A dense layer with seeded weights, its quantized form and the four model files. */
export interface DenseFixture {
  inSize: number;
  outSize: number;
  W: Float32Array;
  b: Float32Array;
  input: { scale: number; zeroPoint: number };
  output: { scale: number; zeroPoint: number };
  qW: Int8Array;
  qB: Int32Array;
  files: { float: Uint8Array; int8FloatIo: Uint8Array; int8Io: Uint8Array; uint8Io: Uint8Array };
  /**
   * The int8 float-I/O model with two graph outputs, [y (float), y_int8], and a signature that
   * lists them in the other order under aliases ("a_int8" -> y_int8, "b_float" -> y).
   */
  twoOutputs: Uint8Array;
  /** y = W x + b in float64. */
  float(x: ArrayLike<number>): Float64Array;
  /** The int8 FC kernel on an int8 input: integer accumulation, one requantization. */
  int8(qx: ArrayLike<number>): Int8Array;
  /** float -> QUANTIZE -> int8 FC -> DEQUANTIZE, as the int8 model with float I/O computes it. */
  int8FloatIo(x: ArrayLike<number>): Float32Array;
  quantizeInput(x: ArrayLike<number>): Int8Array;
  /**
   * Distance of each output's pre-rounding value from a rounding tie: a kernel may round ties
   * either way, so exact comparisons are only meaningful when this is clearly above 0.
   */
  tieMargin(qx: ArrayLike<number>): number;
}

export function denseFixture(inSize: number, outSize: number, seed: number): DenseFixture {
  const rng = createRng(seed);
  const W = Float32Array.from({ length: outSize * inSize }, () => (rng() * 2 - 1) * 0.8);
  const b = Float32Array.from({ length: outSize }, () => (rng() * 2 - 1) * 0.2);
  // Inputs in [0, 1] (images); deliberately odd scales so that no product is a rounding tie.
  const input = { scale: 1 / 255, zeroPoint: -128 };
  const wMax = W.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const wScale = Math.fround(wMax / 127);
  const qW = Int8Array.from(W, (v) => clamp(roundHalfAway(v / wScale), -127, 127));
  const inScale = Math.fround(input.scale);
  const biasScale = Math.fround(inScale * wScale);
  const qB = Int32Array.from(b, (v) => roundHalfAway(v / biasScale));
  // Output range of the float layer over inputs in [0, 1].
  let lo = 0;
  let hi = 0;
  for (let j = 0; j < outSize; j++) {
    let neg = b[j]!;
    let pos = b[j]!;
    for (let k = 0; k < inSize; k++) {
      const w = W[j * inSize + k]!;
      if (w < 0) neg += w;
      else pos += w;
    }
    lo = Math.min(lo, neg);
    hi = Math.max(hi, pos);
  }
  const output = { scale: Math.fround((hi - lo) / 255), zeroPoint: clamp(Math.round(-128 - lo / ((hi - lo) / 255)), -128, 127) };
  const multiplier = (inScale * wScale) / output.scale;

  const acc = (qx: ArrayLike<number>, j: number): number => {
    let s = qB[j]!;
    for (let k = 0; k < inSize; k++) s += qW[j * inSize + k]! * (qx[k]! - input.zeroPoint);
    return s;
  };
  const fx: DenseFixture = {
    inSize,
    outSize,
    W,
    b,
    input,
    output,
    qW,
    qB,
    files: undefined as unknown as DenseFixture['files'],
    twoOutputs: new Uint8Array(0),
    float(x) {
      return Float64Array.from({ length: outSize }, (_, j) => {
        let s = b[j]!;
        for (let k = 0; k < inSize; k++) s += W[j * inSize + k]! * x[k]!;
        return s;
      });
    },
    int8(qx) {
      return Int8Array.from({ length: outSize }, (_, j) => clamp(roundHalfAway(acc(qx, j) * multiplier) + output.zeroPoint, -128, 127));
    },
    quantizeInput(x) {
      return Int8Array.from(x, (v) => clamp(roundHalfAway(v / inScale) + input.zeroPoint, -128, 127));
    },
    int8FloatIo(x) {
      const q = fx.int8(fx.quantizeInput(x));
      return Float32Array.from(q, (v) => output.scale * (v - output.zeroPoint));
    },
    tieMargin(qx) {
      let m = Infinity;
      for (let j = 0; j < outSize; j++) {
        const v = acc(qx, j) * multiplier;
        m = Math.min(m, Math.abs(Math.abs(v - Math.trunc(v)) - 0.5));
      }
      return m;
    },
  };

  const wBytes = bytesOf(W);
  const bBytes = bytesOf(b);
  const io = (name: string, type: number, q?: { scale: number; zeroPoint: number }): TensorSpec =>
    q ? { name, shape: [1, inSize], type, quant: q } : { name, shape: [1, inSize], type };
  const out = (name: string, type: number, q?: { scale: number; zeroPoint: number }): TensorSpec =>
    q ? { name, shape: [1, outSize], type, quant: q } : { name, shape: [1, outSize], type };
  const qWeights: TensorSpec = {
    name: 'dense/kernel',
    shape: [outSize, inSize],
    type: TensorType.INT8,
    data: bytesOf(qW),
    quant: { scale: wScale, zeroPoint: 0 },
  };
  const qBias: TensorSpec = { name: 'dense/bias', shape: [outSize], type: TensorType.INT32, data: bytesOf(qB), quant: { scale: biasScale, zeroPoint: 0 } };
  const int8FloatIoTensors: TensorSpec[] = [
    io('x', TensorType.FLOAT32),
    qWeights,
    qBias,
    io('x_int8', TensorType.INT8, input),
    out('y_int8', TensorType.INT8, output),
    out('y', TensorType.FLOAT32),
  ];
  const fc = (version: number, x: number, y: number): OpSpec => ({ code: Op.FULLY_CONNECTED, version, inputs: [x, 1, 2], outputs: [y] });
  const uint8In = { scale: input.scale, zeroPoint: input.zeroPoint + 128 };
  const uint8Out = { scale: output.scale, zeroPoint: output.zeroPoint + 128 };

  const int8FloatIoOps: OpSpec[] = [
    { code: Op.QUANTIZE, version: 1, inputs: [0], outputs: [3] },
    fc(4, 3, 4),
    { code: Op.DEQUANTIZE, version: 2, inputs: [4], outputs: [5] },
  ];
  fx.twoOutputs = buildModel(int8FloatIoTensors, int8FloatIoOps, [0], [5, 4], {
    inputs: [['image', 0]],
    outputs: [
      ['a_int8', 4],
      ['b_float', 5],
    ],
  });
  fx.files = {
    float: buildModel(
      [
        io('x', TensorType.FLOAT32),
        { name: 'dense/kernel', shape: [outSize, inSize], type: TensorType.FLOAT32, data: wBytes },
        { name: 'dense/bias', shape: [outSize], type: TensorType.FLOAT32, data: bBytes },
        out('y', TensorType.FLOAT32),
      ],
      [fc(1, 0, 3)],
      [0],
      [3],
    ),
    int8FloatIo: buildModel(int8FloatIoTensors, int8FloatIoOps, [0], [5]),
    int8Io: buildModel([io('x', TensorType.INT8, input), qWeights, qBias, out('y', TensorType.INT8, output)], [fc(4, 0, 3)], [0], [3]),
    uint8Io: buildModel(
      [
        io('x', TensorType.UINT8, uint8In),
        qWeights,
        qBias,
        io('x_int8', TensorType.INT8, input),
        out('y_int8', TensorType.INT8, output),
        out('y', TensorType.UINT8, uint8Out),
      ],
      [{ code: Op.QUANTIZE, version: 1, inputs: [0], outputs: [3] }, fc(4, 3, 4), { code: Op.QUANTIZE, version: 1, inputs: [4], outputs: [5] }],
      [0],
      [5],
    ),
  };
  return fx;
}
