import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { KdqError } from '../../src/errors.ts';
import type { TfliteModel } from '../../src/tflite/model.ts';
import { inspectTflite } from '../../src/tflite/inspect.ts';
import { bufferDataOffsets, readOperatorCodes, readTflite } from '../../src/tflite/reader.ts';
import { writeTflite } from '../../src/tflite/writer.ts';

const REF = '/work/shared/reference/tflite/models';
const refBytes = (name: string): Uint8Array => new Uint8Array(readFileSync(`${REF}/${name}.tflite`));

/** The model with each constant buffer replaced by its hash: deep equality on big typed arrays is slow. */
function digest(m: TfliteModel): unknown {
  const h = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
  return {
    ...m,
    tensors: m.tensors.map((t) => ({ ...t, buffer: t.buffer && h(t.buffer) })),
    metadata: Object.fromEntries(Object.entries(m.metadata).map(([k, v]) => [k, h(v)])),
  };
}

/** A small int8 model by hand: QUANTIZE -> CONV_2D -> RESHAPE -> FULLY_CONNECTED -> SOFTMAX -> DEQUANTIZE. */
function handModel(): TfliteModel {
  const i8 = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 37 + seed) & 0xff);
  return {
    description: 'MLIR Converted.',
    subgraphName: 'main',
    tensors: [
      { name: 'in', shape: [1, 4, 4, 1], type: 'FLOAT32' },
      { name: 'in_q', shape: [1, 4, 4, 1], type: 'INT8', quantization: { scale: [1 / 255], zeroPoint: [-128], quantizedDimension: 0, min: [0], max: [1] } },
      { name: 'conv/w', shape: [2, 3, 3, 1], type: 'INT8', buffer: i8(18, 1), quantization: { scale: [0.01, 0.02], zeroPoint: [0, 0], quantizedDimension: 0 } },
      {
        name: 'conv/b',
        shape: [2],
        type: 'INT32',
        buffer: i8(8, 2),
        quantization: { scale: [0.01 / 255, 0.02 / 255], zeroPoint: [0, 0], quantizedDimension: 0 },
      },
      { name: 'conv', shape: [1, 2, 2, 2], type: 'INT8', quantization: { scale: [0.05], zeroPoint: [-128], quantizedDimension: 0 } },
      { name: 'flat/shape', shape: [2], type: 'INT32', buffer: Uint8Array.from([1, 0, 0, 0, 8, 0, 0, 0]) },
      { name: 'flat', shape: [1, 8], type: 'INT8', quantization: { scale: [0.05], zeroPoint: [-128], quantizedDimension: 0 } },
      { name: 'fc/w', shape: [3, 8], type: 'INT8', buffer: i8(24, 3), quantization: { scale: [0.03], zeroPoint: [0], quantizedDimension: 0 } },
      { name: 'fc/b', shape: [3], type: 'INT32', buffer: i8(12, 4), quantization: { scale: [0.0015], zeroPoint: [0], quantizedDimension: 0 } },
      { name: 'logits', shape: [1, 3], type: 'INT8', quantization: { scale: [0.1], zeroPoint: [3], quantizedDimension: 0 } },
      { name: 'probs', shape: [1, 3], type: 'INT8', quantization: { scale: [1 / 256], zeroPoint: [-128], quantizedDimension: 0 } },
      { name: 'out', shape: [1, 3], type: 'FLOAT32' },
    ],
    operators: [
      { op: 'QUANTIZE', version: 1, inputs: [0], outputs: [1], options: { type: 'QuantizeOptions' } },
      {
        op: 'CONV_2D',
        version: 3,
        inputs: [1, 2, 3],
        outputs: [4],
        options: { type: 'Conv2DOptions', padding: 'VALID', strideW: 1, strideH: 1, activation: 'RELU', dilationW: 1, dilationH: 1 },
      },
      { op: 'RESHAPE', version: 1, inputs: [4, 5], outputs: [6] },
      {
        op: 'FULLY_CONNECTED',
        version: 4,
        inputs: [6, 7, 8],
        outputs: [9],
        options: { type: 'FullyConnectedOptions', activation: 'NONE', keepNumDims: false, asymmetricQuantizeInputs: false },
      },
      { op: 'SOFTMAX', version: 2, inputs: [9], outputs: [10], options: { type: 'SoftmaxOptions', beta: 1 } },
      { op: 'DEQUANTIZE', version: 2, inputs: [10], outputs: [11], options: { type: 'DequantizeOptions' } },
    ],
    inputs: [0],
    outputs: [11],
    metadata: { min_runtime_version: Uint8Array.from([...new TextEncoder().encode('1.14.0'), ...new Array(10).fill(0)]) },
    signatures: [{ key: 'serving_default', inputs: [{ name: 'in', tensor: 0 }], outputs: [{ name: 'output_0', tensor: 11 }] }],
  };
}

describe('writeTflite / readTflite', () => {
  it('round-trips a model exactly', () => {
    const m = handModel();
    const back = readTflite(writeTflite(m));
    // float32 fields come back as float32: compare against the fround of what went in.
    for (const t of m.tensors) {
      if (t.quantization) {
        t.quantization.scale = t.quantization.scale.map(Math.fround);
      }
    }
    expect(back).toEqual(m);
  });

  it('is deterministic: pinned bytes hash', () => {
    const a = writeTflite(handModel());
    const b = writeTflite(handModel());
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    expect(createHash('sha256').update(a).digest('hex')).toBe('b61a125b7c1bf53b3ea58e55e19ce9791e342c78eca973b4acdb3a23d9d240c1');
  });

  it('follows the converter conventions: TFL3, version 3, empty buffer 0, both opcode fields, 16-byte aligned data', () => {
    const bytes = writeTflite(handModel());
    expect(Buffer.from(bytes.subarray(4, 8)).toString('latin1')).toBe('TFL3');
    const codes = readOperatorCodes(bytes);
    expect(codes.map((c) => [c.deprecatedBuiltinCode, c.builtinCode, c.version])).toEqual([
      [114, 114, 1],
      [3, 3, 3],
      [22, 22, 1],
      [9, 9, 4],
      [25, 25, 2],
      [6, 6, 2],
    ]);
    const offsets = bufferDataOffsets(bytes);
    expect(offsets[0]).toBe(-1); // the empty sentinel
    expect(offsets.length).toBe(7); // sentinel + 5 constants + min_runtime_version
    for (const o of offsets.slice(1)) expect(o % 16).toBe(0);
  });

  it('rejects inconsistent models with a message naming the tensor and the fix', () => {
    const bad = handModel();
    bad.operators[1].inputs = [1, 2, 42];
    expect(() => writeTflite(bad)).toThrow(/operator 1 \(CONV_2D\) refers to tensor 42/);
    const scales = handModel();
    scales.tensors[2].quantization!.scale = [0.1, 0.2, 0.3];
    scales.tensors[2].quantization!.zeroPoint = [0, 0, 0];
    expect(() => writeTflite(scales)).toThrow(/"conv\/w": 3 scales along quantized dimension 0/);
    const op = handModel();
    op.operators[0].op = 'FANCY_OP';
    expect(() => writeTflite(op)).toThrow(KdqError);
  });

  it('rejects bytes that are not a .tflite file', () => {
    expect(() => readTflite(new TextEncoder().encode('version https://git-lfs.github.com/spec/v1'))).toThrow(/file identifier is "ion "/);
    expect(() => readTflite(new Uint8Array(3))).toThrow(/3 bytes/);
  });
});

describe('reading the converter reference files', () => {
  it('reads magic_wand: ops, versions, shapes, per-channel params', () => {
    const m = readTflite(refBytes('magic_wand'));
    expect(m.description).toBe('MLIR Converted.');
    expect(m.operators.map((o) => `${o.op} v${o.version}`)).toEqual(['CONV_2D v3', 'CONV_2D v3', 'CONV_2D v3', 'MEAN v2', 'FULLY_CONNECTED v4', 'SOFTMAX v2']);
    expect(m.tensors[m.inputs[0]]).toMatchObject({ type: 'INT8', shape: [1, 32, 32, 3] });
    const out = m.tensors[m.outputs[0]];
    expect(out.quantization).toMatchObject({ scale: [1 / 256], zeroPoint: [-128] });
    const w = m.tensors[m.operators[1].inputs[1]];
    expect(w).toMatchObject({ type: 'INT8', shape: [32, 3, 3, 16] });
    expect(w.quantization!.scale).toHaveLength(32);
    expect(w.quantization!.quantizedDimension).toBe(0);
    expect(new TextDecoder().decode(m.metadata.min_runtime_version).replace(/\0+$/, '')).toBe('1.14.0');
  });

  it('reads every reference file, and re-writes those with kdq ops to the same model', () => {
    for (const name of [
      'hello_world_float',
      'hello_world_int8',
      'magic_wand',
      'micro_speech_quantized',
      'person_detect',
      'pretrainedResnet_quant',
      'model_ToyCar_quant_fullint_micro',
      'str_ww_ref_model',
    ]) {
      const m = readTflite(refBytes(name));
      expect(m.operators.length, name).toBeGreaterThan(0);
      const rewritable = m.operators.every((o) => !o.op.startsWith('UNKNOWN') && o.options?.type !== 'Other');
      if (!rewritable) continue;
      expect(digest(readTflite(writeTflite(m))), name).toEqual(digest(m));
    }
  });

  it("decodes and re-writes AddOptions: the converter's ResNet-8 fuses a relu into each residual add", () => {
    const m = readTflite(refBytes('pretrainedResnet_quant'));
    const adds = m.operators.filter((o) => o.op === 'ADD');
    expect(adds.map((o) => `${o.op} v${o.version}`)).toEqual(['ADD v2', 'ADD v2', 'ADD v2']);
    expect(adds.map((o) => o.options)).toEqual(adds.map(() => ({ type: 'AddOptions', activation: 'RELU' })));
    // Each add reads two activations: a branch and the shortcut written before it.
    for (const o of adds) expect(o.inputs.map((i) => m.tensors[i]!.buffer)).toEqual([undefined, undefined]);
    expect(digest(readTflite(writeTflite(m)))).toEqual(digest(m));
    expect(inspectTflite(refBytes('pretrainedResnet_quant'))).toContain('3: ADD v2 (#22, #24) -> (#25) activation=RELU');
  });

  it('inspect lists ops with versions, tensors with types, shapes and quantization', () => {
    const text = inspectTflite(refBytes('str_ww_ref_model'));
    expect(text).toContain('DEPTHWISE_CONV_2D v3');
    expect(text).toMatch(/#0 INT8\[1,30,1,40\] act 1200 B "serving_default_input_1:0" scale 0\.00370104 zp -128/);
    expect(text).toMatch(/INT8\[1,15,1,128\] const 1920 B .* axis 3/);
    expect(text).toContain('metadata min_runtime_version: "1.14.0"');
  });
});
