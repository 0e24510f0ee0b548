/**
 * kdq's ONNX reader on files torch.onnx.export wrote (test/fixtures/teachers, made by
 * scripts/make-teacher-fixtures.py): shapes, nodes, parameter counts, external data, and that a
 * file cut short anywhere is a ProtoError rather than a model or a crash.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ProtoError, readOnnx } from '../../src/teacher/onnx-proto.ts';
import { detectOnnxOutput, onnxParams } from '../../src/teacher/onnx.ts';

const DIR = join(import.meta.dirname, '..', 'fixtures', 'teachers');
const read = (name: string): Uint8Array => new Uint8Array(readFileSync(join(DIR, name)));

describe('readOnnx', () => {
  it('reads the input, output, opset and producer of a PyTorch export with a dynamic batch', () => {
    const m = readOnnx(read('cnn-logits.onnx'));
    expect(m.producerName).toBe('pytorch');
    expect(m.opsets['']).toBe(13);
    expect(m.inputs).toEqual([{ name: 'input', elemType: 1, dims: ['batch', 1, 28, 28] }]);
    expect(m.outputs).toEqual([{ name: 'logits', elemType: 1, dims: ['batch', 10] }]);
    expect(m.nodes.map((n) => n.opType)).toEqual(['Conv', 'Relu', 'MaxPool', 'Conv', 'Relu', 'MaxPool', 'Flatten', 'Gemm']);
  });

  it('counts the weights: 5,258 parameters of SmallCnn (PyTorch says the same)', () => {
    expect(onnxParams(readOnnx(read('cnn-logits.onnx')))).toBe(80 + 1168 + 4010);
  });

  it('reads a fixed batch, and finds the final Softmax', () => {
    const m = readOnnx(read('cnn-softmax-batch1.onnx'));
    expect(m.inputs[0]!.dims).toEqual([1, 1, 28, 28]);
    expect(detectOnnxOutput(m)).toEqual({ kind: 'probabilities', reason: expect.stringMatching(/^the graph ends in Softmax node/) });
    expect(detectOnnxOutput(readOnnx(read('cnn-logits.onnx')))).toMatchObject({ kind: 'logits', reason: expect.stringContaining('Gemm') });
  });

  it('names the external data file of a model saved with its weights outside', () => {
    const m = readOnnx(read('cnn-external.onnx'));
    const external = m.initializers.filter((i) => i.externalLocation !== undefined);
    expect(external.length).toBeGreaterThan(0);
    expect(new Set(external.map((i) => i.externalLocation))).toEqual(new Set(['cnn-external.weights']));
    expect(onnxParams(m)).toBe(5258);
  });

  it('reads the ATen node of a model exported with ONNX_ATEN_FALLBACK, in its own domain', () => {
    const m = readOnnx(read('cnn-aten-op.onnx'));
    expect(m.nodes.filter((n) => n.domain !== '').map((n) => `${n.domain}:${n.opType}`)).toEqual(['org.pytorch.aten:ATen']);
  });

  it('throws ProtoError for every prefix of a model (sampled), never returning a model or another error', () => {
    const bytes = read('cnn-logits.onnx');
    const lengths = new Set<number>();
    for (let n = 0; n < bytes.length; n += 11) lengths.add(n);
    for (let n = Math.max(0, bytes.length - 80); n < bytes.length; n++) lengths.add(n);
    for (const n of lengths) {
      let err: unknown;
      try {
        readOnnx(bytes.subarray(0, n));
      } catch (e) {
        err = e;
      }
      expect(err, `prefix of ${n} bytes`).toBeInstanceOf(ProtoError);
    }
  });

  it('throws ProtoError for bytes that are not protobuf', () => {
    expect(() => readOnnx(new TextEncoder().encode('hello, world'))).toThrow(ProtoError);
    expect(() => readOnnx(new Uint8Array([0x08, 0x07]))).toThrow(/no graph/);
  });
});
