/**
 * Graph files (residual adds, unfolded batch norms, concatenations) run in both TFLite runtimes:
 * float32 matches tf.js, int8 stays within quantization error of it, and the int8 files compute
 * the same bits in LiteRT.js and tfjs-tflite, down to the logits before the softmax.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTfliteModel, exportTflite } from '../../src/tflite/export.ts';
import { lowerModel } from '../../src/tflite/lower.ts';
import type { TfliteModel } from '../../src/tflite/model.ts';
import { loadTflite, type RuntimeName, type TensorData, type TfliteInterpreter } from '../../src/tflite/runtime/index.ts';
import { writeTflite } from '../../src/tflite/writer.ts';
import { SIDE, argmax, fitHead, predictProbs, syntheticImages } from './export-fixtures.ts';
import { concatModel, residualModel } from './graph-fixtures.ts';

const N = 100;
const PIXELS = SIDE * SIDE;
const test = syntheticImages(N, 2);
const calibration = syntheticImages(50, 3).x;
const shape: [number, number, number] = [SIDE, SIDE, 1];
const models: Record<string, { model: tf.LayersModel; probs: number[][] }> = {};
const open: TfliteInterpreter[] = [];

beforeAll(async () => {
  await tf.setBackend('cpu');
  const train = syntheticImages(100, 1);
  for (const [name, make] of [
    ['residual', residualModel],
    ['concat', concatModel],
  ] as const) {
    const model = make();
    fitHead(model, train.x, train.labels, 150);
    models[name] = { model, probs: predictProbs(model, test.x, N) };
  }
});

afterAll(() => {
  for (const it of open) it.close();
});

/** Every test image through the file: the raw outputs, and dequantized float rows. */
async function runAll(bytes: Uint8Array, runtime: RuntimeName): Promise<{ raw: TensorData[]; rows: number[][] }> {
  const it = await loadTflite(bytes, runtime);
  open.push(it);
  const qi = it.inputs[0]!.quantization;
  const qo = it.outputs[0]!.quantization;
  const raw: TensorData[] = [];
  for (let i = 0; i < N; i++) {
    const x = test.x.subarray(i * PIXELS, (i + 1) * PIXELS);
    raw.push(it.run(it.inputs[0]!.dtype === 'int8' ? Int8Array.from(x, (v) => Math.min(127, Math.max(-128, Math.round(v / qi!.scale) + qi!.zeroPoint))) : x));
  }
  it.close();
  return { raw, rows: raw.map((r) => Array.from(r, (v) => (qo && it.outputs[0]!.dtype !== 'float32' ? qo.scale * (v - qo.zeroPoint) : v))) };
}

const maxAbsDiff = (a: number[][], b: number[][]) => Math.max(...a.flatMap((r, i) => r.map((v, k) => Math.abs(v - b[i]![k]!))));
const top1 = (a: number[][], b: number[][]) => a.filter((r, i) => argmax(r) === argmax(b[i]!)).length / a.length;

/** The int8 file with int8 I/O, ending at the logits: the SOFTMAX and its fixed output dropped. */
function logitsFile(model: tf.LayersModel): Uint8Array {
  const { model: m } = buildTfliteModel(lowerModel(model), { mode: 'int8', calibration, inputType: 'int8', outputType: 'int8', inputShape: shape });
  const softmax = m.operators[m.operators.length - 1]!;
  expect(softmax.op).toBe('SOFTMAX');
  const logits = softmax.inputs[0]!;
  const cut: TfliteModel = {
    ...m,
    operators: m.operators.slice(0, -1),
    outputs: [logits],
    signatures: [{ ...m.signatures[0]!, outputs: [{ name: 'output_0', tensor: logits }] }],
  };
  return writeTflite(cut);
}

describe.each(['residual', 'concat'])('%s graph', (name) => {
  it.each(['litert', 'tfjs-tflite'] as const)('float32 in %s matches tf.js to 1e-4; float16 and dynamic-range stay close', async (runtime) => {
    const { model, probs } = models[name]!;
    expect(maxAbsDiff((await runAll(exportTflite(model, { mode: 'float32', inputShape: shape }).bytes, runtime)).rows, probs)).toBeLessThan(1e-4);
    expect(maxAbsDiff((await runAll(exportTflite(model, { mode: 'float16', inputShape: shape }).bytes, runtime)).rows, probs)).toBeLessThan(1e-3);
    expect(maxAbsDiff((await runAll(exportTflite(model, { mode: 'dynamic-range', inputShape: shape }).bytes, runtime)).rows, probs)).toBeLessThan(2e-2);
  });

  it.each(['litert', 'tfjs-tflite'] as const)('int8 in %s: top-1 agreement of at least 99 percent with tf.js, probabilities within 0.05', async (runtime) => {
    const { model, probs } = models[name]!;
    const { rows } = await runAll(exportTflite(model, { mode: 'int8', calibration, inputShape: shape }).bytes, runtime);
    expect(top1(rows, probs)).toBeGreaterThanOrEqual(0.99);
    expect(maxAbsDiff(rows, probs)).toBeLessThan(0.05);
  });

  it('int8: LiteRT.js and tfjs-tflite give the same bits, for the probabilities and for the logits before them', async () => {
    const { model } = models[name]!;
    for (const bytes of [
      exportTflite(model, { mode: 'int8', calibration, inputType: 'int8', outputType: 'int8', inputShape: shape }).bytes,
      logitsFile(model),
    ]) {
      const a = await runAll(bytes, 'litert');
      const b = await runAll(bytes, 'tfjs-tflite');
      expect(a.raw[0]).toBeInstanceOf(Int8Array);
      a.raw.forEach((r, i) => expect(Array.from(r), `image ${i}`).toEqual(Array.from(b.raw[i]!)));
    }
  });
});
