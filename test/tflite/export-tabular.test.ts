/**
 * A dense network on table rows exports to a file whose input is [1, F] and whose first operator
 * is FULLY_CONNECTED (no RESHAPE), float32 and int8, and runs in LiteRT.js at tf.js' accuracy;
 * the file says what to feed it (kdq_input) and kdq inspect prints it.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { initBackend } from '../../src/backend/index.ts';
import type { LayerSpec } from '../../src/config/types.ts';
import { inputsOf, loadDataset, type Dataset } from '../../src/data/dataset.ts';
import { describeInput } from '../../src/data/input-description.ts';
import { buildModel } from '../../src/models/build.ts';
import { calibrationInputs } from '../../src/stages/export.ts';
import { exportTflite } from '../../src/tflite/export.ts';
import { inspectTflite } from '../../src/tflite/inspect.ts';
import { readTflite } from '../../src/tflite/reader.ts';
import { evaluateTflite } from '../../src/tflite/runtime/index.ts';
import { accuracy, predictLogits, trainModel } from '../../src/train/train.ts';
import { trainingConfig } from '../train/fixtures.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const layers: LayerSpec[] = [
  { type: 'dense', units: 16, activation: 'relu', useBias: true },
  { type: 'dense', units: 3, activation: 'linear', useBias: true },
];
let ds: Dataset;
let model: ReturnType<typeof buildModel>;
let tfjsAccuracy: number;

beforeAll(async () => {
  await initBackend('wasm');
  ds = await loadDataset(
    { source: 'csv', train: 'data/wine/wine.csv', testSplit: 0.2, label: 'cultivar', trainLimit: null, testLimit: null, validationSplit: 0 },
    { baseDir: ROOT, seed: 1, splitSeed: 1 },
  );
  model = buildModel(layers, ds.inputShape, 1, { role: 'student' });
  await trainModel({
    model,
    examples: ds.train.x,
    labels: ds.train.y,
    inputShape: ds.inputShape,
    dtype: ds.dtype,
    preprocessing: ds.preprocessing,
    numClasses: 3,
    config: trainingConfig({ epochs: 20, batchSize: 16, learningRate: 0.01 }),
    seed: 1,
    stage: 'student',
  });
  tfjsAccuracy = accuracy(predictLogits(model, inputsOf(ds, ds.test)), ds.test.y, 3);
});

describe('a dense network on [13] table rows', () => {
  it('learns the wine set (standardized rows)', () => {
    expect(tfjsAccuracy).toBeGreaterThan(0.85); // chance is about 0.4
  });

  it('exports float32 with a [1, 13] input straight into FULLY_CONNECTED, and LiteRT.js scores what tf.js scores', async () => {
    const { bytes } = exportTflite(model, { mode: 'float32', inputShape: ds.inputShape, input: describeInput({ ...ds, source: 'csv' }) });
    const m = readTflite(bytes);
    expect(m.tensors[m.inputs[0]].shape).toEqual([1, 13]);
    expect(m.operators.map((o) => o.op)).toEqual(['FULLY_CONNECTED', 'FULLY_CONNECTED', 'SOFTMAX']);
    const r = await evaluateTflite(bytes, { images: inputsOf(ds, ds.test), labels: ds.test.y, imageShape: ds.inputShape }, { runtime: 'litert' });
    expect(r.accuracy).toBe(tfjsAccuracy);
  });

  it('exports int8, with float or int8 input, within a test example of tf.js', async () => {
    const calibration = calibrationInputs(inputsOf(ds, ds.train), 100, 1);
    for (const inputType of ['float32', 'int8'] as const) {
      const { bytes } = exportTflite(model, {
        mode: 'int8',
        inputShape: ds.inputShape,
        calibration,
        inputType,
        input: describeInput({ ...ds, source: 'csv' }),
      });
      const m = readTflite(bytes);
      expect(m.operators.map((o) => o.op)).toEqual([
        ...(inputType === 'float32' ? ['QUANTIZE'] : []),
        'FULLY_CONNECTED',
        'FULLY_CONNECTED',
        'SOFTMAX',
        'DEQUANTIZE',
      ]);
      expect(m.tensors[m.inputs[0]]).toMatchObject({ shape: [1, 13], type: inputType === 'int8' ? 'INT8' : 'FLOAT32' });
      const r = await evaluateTflite(bytes, { images: inputsOf(ds, ds.test), labels: ds.test.y, imageShape: ds.inputShape }, { runtime: 'litert' });
      expect(Math.abs(r.accuracy - tfjsAccuracy), inputType).toBeLessThanOrEqual(1 / ds.test.count + 1e-9);
    }
  });

  it('says in the file what to feed it, and kdq inspect prints the formula, the columns and the classes', () => {
    const calibration = calibrationInputs(inputsOf(ds, ds.train), 50, 1);
    const { bytes } = exportTflite(model, {
      mode: 'int8',
      inputShape: ds.inputShape,
      calibration,
      inputType: 'int8',
      input: describeInput({ ...ds, source: 'csv' }),
    });
    const text = inspectTflite(bytes);
    expect(text).toContain('feed: INT8 [1, 13], one row of 13 features: alcohol, malic_acid, ash,');
    expect(text).toContain('(trained on csv)');
    expect(text).toMatch(/ {2}x = \(value - mean\[f\]\) \/ std\[f\], mean = \[13\.\d+, /);
    expect(text).toMatch(/ {2}then q = clamp\(round\(x \/ [\d.e-]+\) \+ -?\d+, -128, 127\) as int8/);
    expect(text).toContain('output: FLOAT32 [1, 3], a probability per class (SOFTMAX): 0 cultivar_1, 1 cultivar_2, 2 cultivar_3');
    expect(text).toMatch(/metadata kdq_input: "\{/);
  });
});
