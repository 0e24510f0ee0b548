/**
 * The exported files' structure: lowering against tf.js, the int8 spec (weights, biases, axes,
 * fixed output params), operator versions per NOTES.md, I/O types, determinism and the size target.
 * Running the files in the TFLite runtimes is in export-runtime.test.ts.
 */
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { KdqError } from '../../src/errors.ts';
import { exportTflite } from '../../src/tflite/export.ts';
import { forwardLowered } from '../../src/tflite/forward.ts';
import { lowerModel } from '../../src/tflite/lower.ts';
import { buildModel } from '../../src/models/build.ts';
import { resolveLayer } from '../../src/config/defaults.ts';
import type { TfliteModel, TfliteTensor } from '../../src/tflite/model.ts';
import { readTflite } from '../../src/tflite/reader.ts';
import { CLASSES, SIDE, flatModel, syntheticImages, wideModel } from './export-fixtures.ts';

const int8Values = (t: TfliteTensor): Int8Array => new Int8Array(t.buffer!.buffer, t.buffer!.byteOffset, t.buffer!.length);
const int32Values = (t: TfliteTensor): Int32Array => new Int32Array(t.buffer!.slice().buffer);

/** Every weighted op's (op, input, weights, bias) tensors. */
function weighted(m: TfliteModel) {
  return m.operators
    .filter((o) => ['CONV_2D', 'DEPTHWISE_CONV_2D', 'FULLY_CONNECTED'].includes(o.op))
    .map((o) => ({ op: o, input: m.tensors[o.inputs[0]], weights: m.tensors[o.inputs[1]], bias: m.tensors[o.inputs[2]] }));
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('lowering', () => {
  it('folds batch norm and fuses activations without changing the function (float graph vs tf.js)', () => {
    for (const make of [flatModel, wideModel]) {
      const model = make();
      const { x } = syntheticImages(8, 3);
      const lowered = lowerModel(model);
      const images = tf.tensor4d(x, [8, SIDE, SIDE, 1]);
      const outs = forwardLowered(lowered, images);
      const ours = outs[outs.length - 1].dataSync();
      const theirs = (model.predict(images) as tf.Tensor).dataSync();
      let maxDiff = 0;
      ours.forEach((v, i) => (maxDiff = Math.max(maxDiff, Math.abs(v - theirs[i]))));
      expect(maxDiff, make.name).toBeLessThan(1e-4);
      tf.dispose([images, ...outs]);
    }
  });

  it('turns the wide model into fused steps: BN and the relu6 layer gone into the conv, dropout dropped', () => {
    const steps = lowerModel(wideModel()).steps;
    expect(steps.map((s) => s.kind)).toEqual(['conv2d', 'depthwiseConv2d', 'maxPool', 'relu', 'conv2d', 'tanh', 'averagePool', 'sigmoid', 'mean', 'dense']);
    expect(steps[0]).toMatchObject({ activation: 'RELU6', weightShape: [16, 3, 3, 1] });
    expect(steps[1]).toMatchObject({ activation: 'RELU', weightShape: [1, 3, 3, 128], depthMultiplier: 8 });
    expect(steps[9]).toMatchObject({ weightShape: [CLASSES, 8] });
  });

  it("drops the dropout layers of a model built from a config (kdq's seeded dropout), as tf.js does at inference", () => {
    const specs = [
      { type: 'flatten' },
      { type: 'dropout', rate: 0.2 },
      { type: 'dense', units: 6, activation: 'relu' },
      { type: 'dropout', rate: 0.5 },
      { type: 'dense', units: CLASSES },
    ];
    const model = buildModel(specs.map(resolveLayer), [SIDE, SIDE, 1], 7);
    expect(model.layers.filter((l) => l.getClassName() === 'SeededDropout')).toHaveLength(2);
    const lowered = lowerModel(model);
    expect(lowered.steps.map((s) => s.kind)).toEqual(['reshape', 'dense', 'dense']);
    const { x } = syntheticImages(4, 5);
    const images = tf.tensor4d(x, [4, SIDE, SIDE, 1]);
    const outs = forwardLowered(lowered, images);
    const ours = outs[outs.length - 1].dataSync();
    const theirs = (model.predict(images) as tf.Tensor).dataSync();
    ours.forEach((v, i) => expect(Math.abs(v - theirs[i])).toBeLessThan(1e-5));
    tf.dispose([images, ...outs]);
    model.dispose();
  });

  it('rejects what TFLite cannot express, naming the layer and the fix', () => {
    // Concatenation is exported along the channel axis only.
    const input = tf.input({ shape: [4, 4, 2] });
    const rows = tf.layers.concatenate({ axis: 1 }).apply([input, input]) as tf.SymbolicTensor;
    const head = tf.layers.dense({ units: 2 }).apply(tf.layers.flatten().apply(rows)) as tf.SymbolicTensor;
    expect(() => lowerModel(tf.model({ inputs: input, outputs: head }))).toThrow(
      /concatenate along axis 1; kdq exports concatenation along the channel \(last\) axis/,
    );
    const midSoftmax = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [4, 4, 1], filters: 2, kernelSize: 3, activation: 'softmax' }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 2 }),
      ],
    });
    expect(() => lowerModel(midSoftmax)).toThrow(/softmax is only exportable as the last activation/);
    const elu = tf.sequential({
      layers: [tf.layers.conv2d({ inputShape: [4, 4, 1], filters: 2, kernelSize: 3, activation: 'elu' }), tf.layers.flatten(), tf.layers.dense({ units: 2 })],
    });
    expect(() => lowerModel(elu)).toThrow(/activation "elu" cannot be exported/);
    expect(() => exportTflite(flatModel(), { mode: 'float32', inputShape: [28, 28, 1] })).toThrow(/model input is 12x12x1 but inputShape is 28x28x1/);
    expect(() => exportTflite(flatModel(), { mode: 'int8', inputShape: [SIDE, SIDE, 1] })).toThrow(/needs calibration images/);
    expect(() => exportTflite(flatModel(), { mode: 'float16', inputType: 'int8', inputShape: [SIDE, SIDE, 1] })).toThrow(KdqError);
  });

  it('a trailing softmax activation is the SOFTMAX the file ends with, not a second one', () => {
    const m = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [2, 2, 1] }), tf.layers.dense({ units: 3, activation: 'softmax' })] });
    const ops = readTflite(exportTflite(m, { mode: 'float32', inputShape: [2, 2, 1] }).bytes).operators.map((o) => o.op);
    expect(ops).toEqual(['RESHAPE', 'FULLY_CONNECTED', 'SOFTMAX']);
  });
});

describe('int8 files follow the quantization spec', () => {
  const calib = syntheticImages(40, 4).x;
  const files = (['flat', 'wide'] as const).map((kind) => {
    const model = kind === 'flat' ? flatModel() : wideModel();
    return { kind, m: readTflite(exportTflite(model, { mode: 'int8', calibration: calib, inputShape: [SIDE, SIDE, 1] }).bytes) };
  });

  it('weights are symmetric int8 in [-127, 127] with zero point 0, conv per output channel', () => {
    for (const { kind, m } of files) {
      for (const { op, weights } of weighted(m)) {
        const q = weights.quantization!;
        expect(weights.type).toBe('INT8');
        expect(Math.min(...int8Values(weights)), kind).toBeGreaterThanOrEqual(-127);
        expect(q.zeroPoint.every((z) => z === 0)).toBe(true);
        if (op.op === 'CONV_2D') expect({ n: q.scale.length, d: q.quantizedDimension }).toEqual({ n: weights.shape[0], d: 0 });
        if (op.op === 'DEPTHWISE_CONV_2D') expect({ n: q.scale.length, d: q.quantizedDimension }).toEqual({ n: weights.shape[3], d: 3 });
        if (op.op === 'FULLY_CONNECTED') expect(q.scale.length).toBe(1);
        // The largest weight of each channel uses the full range.
        expect(Math.max(...Array.from(int8Values(weights), Math.abs))).toBe(127);
      }
    }
  });

  it('biases are int32, 1-D, axis 0, with scale = input scale * weight scale (1e-6 relative)', () => {
    for (const { m } of files) {
      for (const { input, weights, bias } of weighted(m)) {
        const bq = bias.quantization!;
        expect(bias.type).toBe('INT32');
        expect(bq.quantizedDimension).toBe(0);
        expect(bq.zeroPoint.every((z) => z === 0)).toBe(true);
        const ws = weights.quantization!.scale;
        expect(bq.scale).toHaveLength(ws.length);
        bq.scale.forEach((s, c) => {
          const want = input.quantization!.scale[0] * ws[c];
          expect(Math.abs(s - want) / want).toBeLessThan(1e-6);
        });
        expect(int32Values(bias)).toHaveLength(bias.shape[0]);
      }
    }
  });

  it('pools, reshape and mean keep their input params; softmax, logistic and tanh outputs have the fixed ones', () => {
    for (const { m } of files) {
      for (const o of m.operators) {
        const inQ = m.tensors[o.inputs[0]].quantization;
        const outQ = m.tensors[o.outputs[0]].quantization;
        // MEAN may have its own, but then LiteRT.js and tfjs-tflite round differently (quant-plan.ts).
        const same = ['MAX_POOL_2D', 'AVERAGE_POOL_2D', 'RESHAPE', 'MEAN'].includes(o.op);
        if (same) expect(outQ?.scale).toEqual(inQ?.scale);
        if (same) expect(outQ?.zeroPoint).toEqual(inQ?.zeroPoint);
        if (o.op === 'SOFTMAX' || o.op === 'LOGISTIC') expect([outQ?.scale, outQ?.zeroPoint]).toEqual([[1 / 256], [-128]]);
        if (o.op === 'TANH') expect([outQ?.scale, outQ?.zeroPoint]).toEqual([[1 / 128], [0]]);
      }
    }
  });

  it('operator versions follow the converter table, and the file has float I/O around int8', () => {
    const wide = files[1].m;
    expect(wide.operators.map((o) => `${o.op} v${o.version}`)).toEqual([
      'QUANTIZE v1',
      'CONV_2D v3',
      'DEPTHWISE_CONV_2D v3',
      'MAX_POOL_2D v2',
      'RELU v2',
      'CONV_2D v3',
      'TANH v2',
      'AVERAGE_POOL_2D v2',
      'LOGISTIC v2',
      'MEAN v2',
      'FULLY_CONNECTED v4',
      'SOFTMAX v2',
      'DEQUANTIZE v2',
    ]);
    expect(wide.tensors[wide.inputs[0]].type).toBe('FLOAT32');
    expect(wide.tensors[wide.outputs[0]].type).toBe('FLOAT32');
    const mean = wide.operators.find((o) => o.op === 'MEAN')!;
    expect(mean.options).toEqual({ type: 'ReducerOptions', keepDims: false });
    expect(Array.from(int32Values(wide.tensors[mean.inputs[1]]))).toEqual([1, 2]);
    const flat = files[0].m;
    const reshape = flat.operators.find((o) => o.op === 'RESHAPE')!;
    expect(reshape.options).toBeUndefined();
    expect(Array.from(int32Values(flat.tensors[reshape.inputs[1]]))).toEqual([1, 6 * 6 * 8]);
    expect(new TextDecoder().decode(flat.metadata.min_runtime_version).replace(/\0+$/, '')).toBe('1.14.0');
    expect(flat.signatures).toEqual([
      { key: 'serving_default', inputs: [{ name: expect.any(String), tensor: 0 }], outputs: [{ name: 'output_0', tensor: flat.outputs[0] }] },
    ]);
  });

  it('int8 and uint8 I/O: quantized edges like the converter', () => {
    const model = flatModel();
    const i8 = readTflite(exportTflite(model, { mode: 'int8', calibration: calib, inputType: 'int8', outputType: 'int8', inputShape: [SIDE, SIDE, 1] }).bytes);
    expect(i8.operators[0].op).toBe('CONV_2D');
    expect(i8.operators[i8.operators.length - 1].op).toBe('SOFTMAX');
    expect(i8.tensors[i8.inputs[0]].quantization).toMatchObject({ zeroPoint: [-128] });
    const u8 = readTflite(
      exportTflite(model, { mode: 'int8', calibration: calib, inputType: 'uint8', outputType: 'uint8', inputShape: [SIDE, SIDE, 1] }).bytes,
    );
    const [inT, outT] = [u8.tensors[u8.inputs[0]], u8.tensors[u8.outputs[0]]];
    expect([inT.type, inT.quantization?.zeroPoint]).toEqual(['UINT8', [0]]);
    expect([outT.type, outT.quantization?.scale, outT.quantization?.zeroPoint]).toEqual(['UINT8', [1 / 256], [0]]);
    expect(u8.operators.map((o) => o.op)).toEqual([
      'QUANTIZE',
      'CONV_2D',
      'MAX_POOL_2D',
      'RESHAPE',
      'FULLY_CONNECTED',
      'FULLY_CONNECTED',
      'SOFTMAX',
      'QUANTIZE',
    ]);
  });

  it('percentile calibration clips the logits range compared with minmax', () => {
    const model = wideModel();
    const mm = exportTflite(model, { mode: 'int8', calibration: calib, inputShape: [SIDE, SIDE, 1] }).summary.calibration!;
    const pc = exportTflite(model, { mode: 'int8', calibration: calib, calibrationMethod: 'percentile', percentile: 90, inputShape: [SIDE, SIDE, 1] }).summary
      .calibration!;
    expect(pc.method).toBe('percentile');
    expect(pc.logits.max - pc.logits.min).toBeLessThan(mm.logits.max - mm.logits.min);
    expect(pc.input).toEqual(mm.input);
  });
});

describe('other modes', () => {
  it('dynamic-range: int8 weights for large tensors only, float activations, hybrid op versions', () => {
    const m = readTflite(exportTflite(wideModel(), { mode: 'dynamic-range', inputShape: [SIDE, SIDE, 1] }).bytes);
    const ops = weighted(m).map(({ op, weights, bias, input }) => [
      op.op,
      op.version,
      weights.type,
      weights.quantization?.quantizedDimension ?? null,
      bias.type,
      input.type,
    ]);
    expect(ops).toEqual([
      ['CONV_2D', 1, 'FLOAT32', null, 'FLOAT32', 'FLOAT32'], // 144 weights: below the 1024 threshold
      ['DEPTHWISE_CONV_2D', 6, 'INT8', 3, 'FLOAT32', 'FLOAT32'],
      ['CONV_2D', 5, 'INT8', 0, 'FLOAT32', 'FLOAT32'],
      ['FULLY_CONNECTED', 1, 'FLOAT32', null, 'FLOAT32', 'FLOAT32'],
    ]);
    expect(m.operators.some((o) => o.op === 'QUANTIZE' || o.op === 'DEQUANTIZE')).toBe(false);
  });

  it('dynamic-range with per-channel dense weights: FULLY_CONNECTED v12 and min_runtime_version 2.17.0, as the converter writes', () => {
    const version = (perChannel: boolean) => {
      const m = readTflite(exportTflite(flatModel(), { mode: 'dynamic-range', perChannel, inputShape: [SIDE, SIDE, 1] }).bytes);
      const fc = weighted(m).find(({ weights }) => weights.type === 'INT8')!;
      return [fc.op.op, fc.op.version, fc.weights.quantization!.scale.length, new TextDecoder().decode(m.metadata.min_runtime_version).replace(/\0+$/, '')];
    };
    // A runtime without the per-channel hybrid kernel must refuse the file, not run the v3 kernel on it.
    expect(version(true)).toEqual(['FULLY_CONNECTED', 12, 32, '2.17.0']);
    expect(version(false)).toEqual(['FULLY_CONNECTED', 3, 1, '1.14.0']);
  });

  it('float16: every weight and bias is a FLOAT16 constant dequantized (v3) to float32', () => {
    const m = readTflite(exportTflite(flatModel(), { mode: 'float16', inputShape: [SIDE, SIDE, 1] }).bytes);
    for (const { weights, bias } of weighted(m)) {
      for (const t of [weights, bias]) {
        expect(t.type).toBe('FLOAT32');
        expect(t.buffer).toBeUndefined();
        const dq = m.operators.find((o) => o.outputs[0] === m.tensors.indexOf(t))!;
        expect([dq.op, dq.version, m.tensors[dq.inputs[0]].type]).toEqual(['DEQUANTIZE', 3, 'FLOAT16']);
      }
    }
  });

  it('the same model gives the same bytes: pinned sha256 of a fixed-weight float32 export', () => {
    const fixed = tf.sequential({
      layers: [
        tf.layers.conv2d({
          name: 'pinned_conv',
          inputShape: [4, 4, 1],
          filters: 2,
          kernelSize: 3,
          activation: 'relu',
          kernelInitializer: 'ones',
          biasInitializer: tf.initializers.constant({ value: 0.5 }),
        }),
        tf.layers.flatten({ name: 'pinned_flatten' }),
        tf.layers.dense({ name: 'pinned_dense', units: 3, kernelInitializer: tf.initializers.constant({ value: 0.25 }) }),
      ],
    });
    const a = exportTflite(fixed, { mode: 'float32', inputShape: [4, 4, 1] }).bytes;
    const b = exportTflite(fixed, { mode: 'float32', inputShape: [4, 4, 1] }).bytes;
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    // Layer names are part of the bytes, and tf.js numbers default names per process: name them.
    expect(createHash('sha256').update(a).digest('hex')).toBe('9e751775e08ff34a7e759055389fa5cf7d24e5f8c85c2d2d5aa882c0585590d7');
    // kdq's own description, not the string Google's converter writes.
    expect(readTflite(a).description).toBe('Written by kdq.');
  });

  it('names in the file depend on the layer specs alone: a second build in the same process exports the same bytes', () => {
    const specs = [{ type: 'conv2d', filters: 2, kernelSize: 3, activation: 'relu' }, { type: 'flatten' }, { type: 'dense', units: CLASSES }].map(resolveLayer);
    const calibration = syntheticImages(4, 5).x;
    const exported = [1, 2].map(() => {
      const model = buildModel(specs, [SIDE, SIDE, 1], 3, { role: 'student' });
      const out = {
        f32: exportTflite(model, { mode: 'float32', inputShape: [SIDE, SIDE, 1] }).bytes,
        i8: exportTflite(model, { mode: 'int8', calibration, inputShape: [SIDE, SIDE, 1] }).bytes,
      };
      model.dispose();
      return out;
    });
    expect(Buffer.from(exported[1].f32).equals(Buffer.from(exported[0].f32))).toBe(true);
    expect(Buffer.from(exported[1].i8).equals(Buffer.from(exported[0].i8))).toBe(true);
    for (const bytes of [exported[1].f32, exported[1].i8]) {
      const m = readTflite(bytes);
      expect(m.signatures[0].inputs[0].name).toBe('student_0_conv2d_input');
    }
  });

  it('kd-mnist student: the int8 file is at most 0.28x the float32 file', () => {
    const student = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 16, kernelSize: 3, activation: 'relu', kernelInitializer: init() }),
        tf.layers.maxPooling2d({ poolSize: 2 }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 64, activation: 'relu', kernelInitializer: init() }),
        tf.layers.dense({ units: 10, kernelInitializer: init() }),
      ],
    });
    const calibration = new Float32Array(4 * 28 * 28).map((_, i) => (i % 29) / 29);
    const f32 = exportTflite(student, { mode: 'float32', inputShape: [28, 28, 1] }).summary.sizeBytes;
    const i8 = exportTflite(student, { mode: 'int8', calibration, inputShape: [28, 28, 1] }).summary.sizeBytes;
    expect(i8 / f32).toBeLessThanOrEqual(0.28);
  });
});

function init() {
  return tf.initializers.glorotUniform({ seed: 7 });
}
