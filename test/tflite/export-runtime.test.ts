/**
 * Exported files run in Google's TFLite runtimes (LiteRT.js and tfjs-tflite) and agree with
 * tf.js: float32 to 1e-4, quantized files by top-1 agreement, for every mode and I/O type.
 * Our own int8 reasoning is not a substitute: runtimes accept wrong scales silently (NOTES.md).
 */
import * as tf from '@tensorflow/tfjs';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IoType } from '../../src/names.ts';
import { exportTflite, type ExportOptions } from '../../src/tflite/export.ts';
import { readTflite } from '../../src/tflite/reader.ts';
import { loadTflite, type RuntimeName, type TfliteInterpreter } from '../../src/tflite/runtime/index.ts';
import { writeTflite } from '../../src/tflite/writer.ts';
import { SIDE, argmax, fitHead, flatModel, predictProbs, syntheticImages, wideModel } from './export-fixtures.ts';

const N = 100;
const PIXELS = SIDE * SIDE;
let flat: tf.Sequential;
let wide: tf.Sequential;
const test = syntheticImages(N, 2);
const calibration = syntheticImages(50, 3).x;
let flatProbs: number[][];
let wideProbs: number[][];
const open: TfliteInterpreter[] = [];

beforeAll(async () => {
  await tf.setBackend('cpu');
  flat = flatModel();
  const train = syntheticImages(100, 1);
  fitHead(flat, train.x, train.labels, 150);
  wide = wideModel();
  flatProbs = predictProbs(flat, test.x, N);
  wideProbs = predictProbs(wide, test.x, N);
});

afterAll(() => {
  for (const it of open) it.close();
});

/** Runs every test image through the file and returns dequantized probabilities. */
async function runAll(bytes: Uint8Array, runtime: RuntimeName, io: IoType): Promise<number[][]> {
  const it = await loadTflite(bytes, runtime);
  open.push(it);
  const qi = it.inputs[0].quantization;
  const qo = it.outputs[0].quantization;
  const rows: number[][] = [];
  for (let i = 0; i < N; i++) {
    const x = test.x.subarray(i * PIXELS, (i + 1) * PIXELS);
    const q = (lo: number, hi: number) => (v: number) => Math.min(hi, Math.max(lo, Math.round(v / qi!.scale) + qi!.zeroPoint));
    const input = io === 'int8' ? Int8Array.from(x, q(-128, 127)) : io === 'uint8' ? Uint8Array.from(x, q(0, 255)) : x;
    const out = it.run(input);
    rows.push(Array.from(out, (v) => (qo && io !== 'float32' ? qo.scale * (v - qo.zeroPoint) : v)));
  }
  it.close();
  return rows;
}

function maxAbsDiff(a: number[][], b: number[][]): number {
  let m = 0;
  a.forEach((r, i) => r.forEach((v, k) => (m = Math.max(m, Math.abs(v - b[i][k])))));
  return m;
}

function top1Agreement(a: number[][], b: number[][]): number {
  return a.filter((r, i) => argmax(r) === argmax(b[i])).length / a.length;
}

const shape: ExportOptions['inputShape'] = [SIDE, SIDE, 1];

describe.each(['litert', 'tfjs-tflite'] as const)('%s', (runtime) => {
  it('float32 files match tf.js predictions to 1e-4 (both models)', async () => {
    expect(maxAbsDiff(await runAll(exportTflite(flat, { mode: 'float32', inputShape: shape }).bytes, runtime, 'float32'), flatProbs)).toBeLessThan(1e-4);
    expect(maxAbsDiff(await runAll(exportTflite(wide, { mode: 'float32', inputShape: shape }).bytes, runtime, 'float32'), wideProbs)).toBeLessThan(1e-4);
  });

  it('float16 and dynamic-range files agree on top-1 and stay close', async () => {
    for (const mode of ['float16', 'dynamic-range'] as const) {
      const p = await runAll(exportTflite(flat, { mode, inputShape: shape }).bytes, runtime, 'float32');
      expect(top1Agreement(p, flatProbs), mode).toBeGreaterThanOrEqual(0.99);
      expect(maxAbsDiff(p, flatProbs), mode).toBeLessThan(mode === 'float16' ? 1e-3 : 2e-2);
      // The wide model has the hybrid DEPTHWISE_CONV_2D v6 and per-channel CONV_2D v5 kernels.
      const w = await runAll(exportTflite(wide, { mode, inputShape: shape }).bytes, runtime, 'float32');
      expect(maxAbsDiff(w, wideProbs), mode).toBeLessThan(mode === 'float16' ? 1e-3 : 2e-2);
    }
  });

  it.each(['float32', 'int8', 'uint8'] as const)('int8 with %s I/O: top-1 agreement of at least 99 percent', async (io) => {
    const { bytes } = exportTflite(flat, { mode: 'int8', calibration, inputType: io, outputType: io, inputShape: shape });
    const p = await runAll(bytes, runtime, io);
    expect(top1Agreement(p, flatProbs)).toBeGreaterThanOrEqual(0.99);
    expect(maxAbsDiff(p, flatProbs)).toBeLessThan(0.05);
  });

  it('int8 with percentile calibration and per-channel dense weights agrees too', async () => {
    const { bytes } = exportTflite(flat, {
      mode: 'int8',
      calibration,
      calibrationMethod: 'percentile',
      percentile: 99.99,
      perChannel: true,
      inputShape: shape,
    });
    expect(top1Agreement(await runAll(bytes, runtime, 'float32'), flatProbs)).toBeGreaterThanOrEqual(0.99);
  });

  it('int8 wide model (BN folded, relu6, depthwise, tanh, logistic, mean) stays within quantization error', async () => {
    const { bytes } = exportTflite(wide, { mode: 'int8', calibration, inputShape: shape });
    // Random-weight head: probabilities sit close together, so top-1 is not a fair test here;
    // the probabilities must still be right to a few int8 steps.
    expect(maxAbsDiff(await runAll(bytes, runtime, 'float32'), wideProbs)).toBeLessThan(0.01);
  });
});

it('a converter file re-written by kdq runs to the same outputs as the original', async () => {
  const original = new Uint8Array(readFileSync('/work/shared/reference/tflite/models/magic_wand.tflite'));
  const rewritten = writeTflite(readTflite(original));
  const a = await loadTflite(original, 'tfjs-tflite');
  const b = await loadTflite(rewritten, 'tfjs-tflite');
  open.push(a, b);
  const input = Int8Array.from({ length: 32 * 32 * 3 }, (_, i) => ((i * 31) % 256) - 128);
  expect(Array.from(b.run(input))).toEqual(Array.from(a.run(input)));
});
