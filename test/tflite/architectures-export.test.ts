/**
 * ResNet-8 and the DS-CNN go the whole way at the model level: built by kdq's builder, distilled
 * (ResNet-8, on two data-parallel threads that rebuild the graph from its specs) or trained, then
 * exported to float32 and int8 files that LiteRT.js and tfjs-tflite both run: float32 as tf.js
 * computes, int8 the same bits in both runtimes and close to float. Synthetic data of each input
 * shape (the data sources for 32x32x3 and 49x10x1 are another part of kdq).
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.ts';
import type { LayerSpec, TrainingConfig } from '../../src/config/types.ts';
import { buildModel } from '../../src/models/build.ts';
import { exportTflite } from '../../src/tflite/export.ts';
import { readTflite } from '../../src/tflite/reader.ts';
import { loadTflite, type RuntimeName, type TfliteInterpreter } from '../../src/tflite/runtime/index.ts';
import { predictLogits, trainModel } from '../../src/train/train.ts';
import { DSCNN_INPUT, RESNET_INPUT, architecture, stripeImages } from '../models/architecture-fixtures.ts';
import { floatInputs } from '../../src/data/model-inputs.ts';

const open: TfliteInterpreter[] = [];
const TEST = 40;

beforeAll(async () => {
  await initBackend('wasm');
});
afterAll(() => {
  for (const it of open) it.close();
});

/** A few steps move batch-norm statistics only a little at Keras' momentum 0.99; these tests train briefly. */
const quickBatchNorm = (layers: LayerSpec[]): LayerSpec[] => layers.map((l) => (l.type === 'batchNormalization' ? { ...l, momentum: 0.5 } : l));

const training = (over: Partial<TrainingConfig> = {}): TrainingConfig => ({
  epochs: 1,
  batchSize: 16,
  optimizer: 'adam',
  learningRate: 0.003,
  momentum: 0,
  shuffle: true,
  ...over,
});

/** Each test image's output from the file, dequantized to floats. */
async function run(bytes: Uint8Array, runtime: RuntimeName, images: Float32Array, shape: number[]): Promise<{ raw: number[][]; rows: number[][] }> {
  const it = await loadTflite(bytes, runtime);
  open.push(it);
  const per = shape.reduce((a, b) => a * b, 1);
  const q = it.outputs[0]!.quantization;
  const raw: number[][] = [];
  for (let i = 0; i < images.length / per; i++) raw.push(Array.from(it.run(images.subarray(i * per, (i + 1) * per))));
  it.close();
  return { raw, rows: raw.map((r) => r.map((v) => (q && it.outputs[0]!.dtype !== 'float32' ? q.scale * (v - q.zeroPoint) : v))) };
}

function softmaxRows(logits: Float32Array, classes: number): number[][] {
  return tf.tidy(() => tf.softmax(tf.tensor2d(logits, [logits.length / classes, classes])).arraySync() as number[][]);
}

const argmax = (r: number[]) => r.indexOf(Math.max(...r));
const maxAbsDiff = (a: number[][], b: number[][]) => Math.max(...a.flatMap((r, i) => r.map((v, k) => Math.abs(v - b[i]![k]!))));

/** Exports `model` to float32 and int8 and checks both files in both runtimes; returns int8's top-1 agreement with float. */
async function checkExports(
  model: tf.LayersModel,
  shape: [number, number, number],
  classes: number,
  calibration: Float32Array,
  test: Float32Array,
): Promise<number> {
  const float = softmaxRows(predictLogits(model, floatInputs(test, shape)), classes);
  const f32 = exportTflite(model, { mode: 'float32', inputShape: shape }).bytes;
  const i8 = exportTflite(model, { mode: 'int8', calibration, inputShape: shape }).bytes;
  // Every batch norm was folded into the conv before it: no MUL in either file.
  expect(readTflite(i8).operators.some((o) => o.op === 'MUL')).toBe(false);
  const int8 = { litert: await run(i8, 'litert', test, shape), tfjs: await run(i8, 'tfjs-tflite', test, shape) };
  for (const runtime of ['litert', 'tfjs-tflite'] as const) {
    expect(maxAbsDiff((await run(f32, runtime, test, shape)).rows, float), runtime).toBeLessThan(1e-4);
  }
  expect(int8.litert.raw).toEqual(int8.tfjs.raw);
  expect(maxAbsDiff(int8.litert.rows, float)).toBeLessThan(0.1);
  return int8.litert.rows.filter((r, i) => argmax(r) === argmax(float[i]!)).length / float.length;
}

describe('ResNet-8', () => {
  it("distills on two threads from a teacher's logits and exports float32 and int8 files both runtimes run", async () => {
    const layers = quickBatchNorm((await architecture('resnet8.yaml')).experiment.student.layers);
    const train = stripeImages(64, RESNET_INPUT, 10, 1);
    const test = stripeImages(TEST, RESNET_INPUT, 10, 2).images;
    const teacher = buildModel(layers, RESNET_INPUT, 7, { role: 'teacher' });
    const softLogits = predictLogits(teacher, floatInputs(train.images, RESNET_INPUT));
    teacher.dispose();
    const model = buildModel(layers, RESNET_INPUT, 1, { role: 'student' });
    try {
      const history = await trainModel({
        model,
        examples: train.images,
        labels: Int32Array.from(train.labels),
        inputShape: RESNET_INPUT,
        numClasses: 10,
        config: training({ threads: 2 }),
        seed: 1,
        softLogits,
        distillation: { temperature: 4, hardWeight: 0.5, softWeight: 0.5, loss: 'kl', temperatureSquared: true, baseline: false },
        stage: 'student',
        spec: { layers, seed: 1, role: 'student' },
      });
      expect(Number.isFinite(history.epochs[0]!.loss)).toBe(true);
      expect(await checkExports(model, RESNET_INPUT, 10, train.images.subarray(0, 32 * 32 * 3 * 32), test)).toBeGreaterThanOrEqual(0.9);
    } finally {
      model.dispose();
    }
  });
});

describe('DS-CNN', () => {
  it('trains and exports float32 and int8 files both runtimes run (batch norms folded into the depthwise and pointwise convs)', async () => {
    const layers = quickBatchNorm((await architecture('ds-cnn.yaml')).experiment.student.layers);
    const train = stripeImages(64, DSCNN_INPUT, 12, 3);
    const test = stripeImages(TEST, DSCNN_INPUT, 12, 4).images;
    const model = buildModel(layers, DSCNN_INPUT, 1, { role: 'student' });
    try {
      await trainModel({
        model,
        examples: train.images,
        labels: Int32Array.from(train.labels),
        inputShape: DSCNN_INPUT,
        numClasses: 12,
        config: training(),
        seed: 1,
        stage: 'student',
      });
      expect(await checkExports(model, DSCNN_INPUT, 12, train.images.subarray(0, 49 * 10 * 32), test)).toBeGreaterThanOrEqual(0.9);
    } finally {
      model.dispose();
    }
  });
});
