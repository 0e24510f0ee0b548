/**
 * Exporting graphs: lowering a DAG (tensors read twice, batch norms folded or MUL/ADD, relu fused
 * into ADD, adds of three), and the int8 files' ADD, MUL and CONCATENATION against the
 * quantization spec and the converter's operator versions (NOTES.md). Running the files is in
 * export-graph-runtime.test.ts.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { exportTflite } from '../../src/tflite/export.ts';
import { forwardLowered } from '../../src/tflite/forward.ts';
import { INPUT_STEP, lowerModel } from '../../src/tflite/lower.ts';
import type { TfliteModel, TfliteTensor } from '../../src/tflite/model.ts';
import { readTflite } from '../../src/tflite/reader.ts';
import { SIDE, syntheticImages } from './export-fixtures.ts';
import { concatModel, residualModel } from './graph-fixtures.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const calibration = syntheticImages(40, 4).x;
const shape: [number, number, number] = [SIDE, SIDE, 1];
const params = (t: TfliteTensor) => [t.quantization?.scale, t.quantization?.zeroPoint];

describe('lowering a graph', () => {
  it('computes what tf.js computes (float graph vs predict), for both graphs', () => {
    for (const make of [residualModel, concatModel]) {
      const model = make();
      const images = tf.tensor4d(syntheticImages(8, 3).x, [8, SIDE, SIDE, 1]);
      const outs = forwardLowered(lowerModel(model), images);
      const ours = outs[outs.length - 1]!.dataSync();
      const theirs = (model.predict(images) as tf.Tensor).dataSync();
      let maxDiff = 0;
      ours.forEach((v, i) => (maxDiff = Math.max(maxDiff, Math.abs(v - theirs[i]!))));
      expect(maxDiff, make.name).toBeLessThan(1e-4);
      tf.dispose([images, ...outs]);
      model.dispose();
    }
  });

  it('folds a batch norm only into the linear conv it alone reads, and writes MUL then ADD elsewhere', () => {
    const { steps } = lowerModel(residualModel());
    expect(steps.map((s) => s.kind)).toEqual([
      'conv2d', // stem conv, its BN folded, relu fused
      'conv2d', // conv relu
      'mul', // BN after the relu: cannot fold
      'add',
      'conv2d', // BN folded
      'add', // residual add, relu fused
      'conv2d',
      'conv2d', // BN folded
      'conv2d', // 1x1 strided shortcut
      'add',
      'mul', // BN of the sum: after an add, cannot fold
      'add', // ... and the relu after it fused here
      'add', // three-input add: (normed + sum) + short
      'add',
      'averagePool',
      'reshape',
      'dense',
    ]);
    const at = (i: number) => steps[i] as { inputs: number[]; activation?: string; constant?: Float32Array };
    expect([at(0).inputs, at(0).activation]).toEqual([[INPUT_STEP], 'RELU']);
    expect([at(2).constant?.length, at(3).constant?.length, at(3).inputs]).toEqual([8, 8, [2]]);
    expect([at(5).inputs, at(5).activation]).toEqual([[0, 4], 'RELU']);
    expect([at(9).inputs, at(9).activation]).toEqual([[8, 7], 'NONE']);
    expect([at(11).inputs, at(11).activation]).toEqual([[10], 'RELU']);
    expect([at(12).inputs, at(13).inputs]).toEqual([
      [11, 9],
      [12, 8],
    ]);
  });

  it('does not fold a batch norm into a conv that a shortcut also reads, nor fuse a relu into it', () => {
    const x = tf.input({ shape: [SIDE, SIDE, 1] });
    const c = tf.layers
      .conv2d({ filters: 4, kernelSize: 3, padding: 'same', kernelInitializer: tf.initializers.glorotUniform({ seed: 5 }) })
      .apply(x) as tf.SymbolicTensor;
    const normed = tf.layers.batchNormalization({ movingVarianceInitializer: tf.initializers.constant({ value: 4 }) }).apply(c) as tf.SymbolicTensor;
    const branch = tf.layers.activation({ activation: 'relu' }).apply(normed) as tf.SymbolicTensor;
    const sum = tf.layers.add().apply([c, branch]) as tf.SymbolicTensor;
    const out = tf.layers.dense({ units: 3 }).apply(tf.layers.flatten().apply(sum)) as tf.SymbolicTensor;
    const model = tf.model({ inputs: x, outputs: out });
    const lowered = lowerModel(model);
    expect(lowered.steps.map((s) => [s.kind, 'activation' in s ? s.activation : '-'])).toEqual([
      ['conv2d', 'NONE'],
      ['mul', 'NONE'],
      ['add', 'RELU'],
      ['add', 'NONE'],
      ['reshape', '-'],
      ['dense', 'NONE'],
    ]);
    const images = tf.tensor4d(syntheticImages(4, 6).x, [4, SIDE, SIDE, 1]);
    const outs = forwardLowered(lowered, images);
    const theirs = (model.predict(images) as tf.Tensor).dataSync();
    outs[outs.length - 1]!.dataSync().forEach((v, i) => expect(Math.abs(v - theirs[i]!)).toBeLessThan(1e-4));
    tf.dispose([images, ...outs]);
    model.dispose();
  });
});

/** The operator's input and output tensors. */
function io(m: TfliteModel, opName: string) {
  return m.operators.filter((o) => o.op === opName).map((o) => ({ op: o, ins: o.inputs.map((i) => m.tensors[i]!), out: m.tensors[o.outputs[0]!]! }));
}

describe('int8 graph files follow the quantization spec', () => {
  const residual = readTflite(exportTflite(residualModel(), { mode: 'int8', calibration, inputShape: shape }).bytes);
  const concat = readTflite(exportTflite(concatModel(), { mode: 'int8', calibration, inputShape: shape }).bytes);

  it('ADD and MUL: int8 per-tensor inputs and output, constants quantized like activations', () => {
    for (const name of ['ADD', 'MUL']) {
      for (const { ins, out } of io(residual, name)) {
        for (const t of [...ins, out]) {
          expect(t.type).toBe('INT8');
          expect(t.quantization?.scale).toHaveLength(1);
        }
        const constant = ins.find((t) => t.buffer);
        if (constant) {
          expect(constant.shape).toHaveLength(1);
          const [scale, zp] = [constant.quantization!.scale[0]!, constant.quantization!.zeroPoint[0]!];
          expect(zp).toBeGreaterThanOrEqual(-128);
          expect(zp).toBeLessThanOrEqual(127);
          // Its range includes zero and it uses the full int8 range at one end.
          const q = new Int8Array(constant.buffer!.buffer, constant.buffer!.byteOffset, constant.buffer!.length);
          expect(Math.max(...q) === 127 || Math.min(...q) === -128).toBe(true);
          expect(scale).toBeGreaterThan(0);
        }
      }
    }
    // The two residual adds read two activations each; the unfolded batch norms, a constant each.
    expect(io(residual, 'ADD').map(({ ins }) => ins.filter((t) => t.buffer).length)).toEqual([1, 0, 0, 1, 0, 0]);
    expect(io(residual, 'MUL')).toHaveLength(2);
  });

  it('a relu after an add is fused into it (AddOptions), the others are NONE', () => {
    expect(io(residual, 'ADD').map(({ op }) => op.options)).toEqual(
      ['NONE', 'RELU', 'NONE', 'RELU', 'NONE', 'NONE'].map((activation) => ({ type: 'AddOptions', activation })),
    );
    expect(residual.operators.some((o) => o.op === 'RELU')).toBe(false);
  });

  it("CONCATENATION: every input has the output's scale and zero point; producers share them or a QUANTIZE requantizes", () => {
    const cats = io(concat, 'CONCATENATION');
    expect(cats).toHaveLength(2);
    for (const { op, ins, out } of cats) {
      expect(op.options).toEqual({ type: 'ConcatenationOptions', axis: 3, activation: 'NONE' });
      for (const t of ins) expect(params(t)).toEqual(params(out));
    }
    // First: the two convs took its parameters, the pool of one of them inherits them, the model's
    // input is requantized. Second (a wider range): the first concatenation's output and the 1x1
    // conv (given the first's parameters) are requantized, the linear conv took its parameters.
    const producer = (t: TfliteTensor) => concat.operators.find((o) => o.outputs.includes(concat.tensors.indexOf(t)))!.op;
    expect(cats[0]!.ins.map(producer)).toEqual(['CONV_2D', 'CONV_2D', 'QUANTIZE', 'MAX_POOL_2D']);
    expect(cats[1]!.ins.map(producer)).toEqual(['QUANTIZE', 'QUANTIZE', 'CONV_2D']);
    const requants = io(concat, 'QUANTIZE').filter(({ ins }) => ins[0]!.type === 'INT8');
    expect(requants.map(({ op }) => `${op.op} v${op.version}`)).toEqual(['QUANTIZE v1', 'QUANTIZE v1', 'QUANTIZE v1']);
  });

  it('operator versions: ADD 2, CONCATENATION 2, MUL 2 (3 when it scales up); float32 1; min runtime 1.14.0 or 1.15.0', () => {
    for (const o of residual.operators.filter((x) => x.op === 'ADD')) expect(o.version).toBe(2);
    for (const o of concat.operators.filter((x) => x.op === 'CONCATENATION')) expect(o.version).toBe(2);
    for (const { op, ins, out } of io(residual, 'MUL')) {
      const rescale = (ins[0]!.quantization!.scale[0]! * ins[1]!.quantization!.scale[0]!) / out.quantization!.scale[0]!;
      expect(op.version).toBe(rescale >= 1 ? 3 : 2);
    }
    const usesMul3 = residual.operators.some((o) => o.op === 'MUL' && o.version === 3);
    expect(new TextDecoder().decode(residual.metadata.min_runtime_version).replace(/\0+$/, '')).toBe(usesMul3 ? '1.15.0' : '1.14.0');
    const float = readTflite(exportTflite(residualModel(), { mode: 'float32', inputShape: shape }).bytes);
    expect([...new Set(float.operators.map((o) => `${o.op} v${o.version}`))].sort()).toEqual([
      'ADD v1',
      'AVERAGE_POOL_2D v1',
      'CONV_2D v1',
      'FULLY_CONNECTED v1',
      'MUL v1',
      'RESHAPE v1',
      'SOFTMAX v1',
    ]);
    const floatCat = readTflite(exportTflite(concatModel(), { mode: 'float32', inputShape: shape }).bytes);
    expect(floatCat.operators.filter((o) => o.op === 'CONCATENATION').map((o) => o.version)).toEqual([1, 1]);
  });

  it("float16: the batch norms' constants are FLOAT16 dequantized to float32, like the weights", () => {
    const m = readTflite(exportTflite(residualModel(), { mode: 'float16', inputShape: shape }).bytes);
    for (const { ins } of [...io(m, 'MUL'), ...io(m, 'ADD')]) {
      for (const t of ins) {
        const producer = m.operators.find((o) => o.outputs.includes(m.tensors.indexOf(t)));
        if (producer?.op === 'DEQUANTIZE') expect(m.tensors[producer.inputs[0]!]!.type).toBe('FLOAT16');
      }
    }
    expect(m.tensors.filter((t) => t.buffer && t.type === 'FLOAT32')).toHaveLength(0);
  });
});
