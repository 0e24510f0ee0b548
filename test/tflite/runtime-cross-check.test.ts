/**
 * One file in both TFLite runtimes (src/tflite/runtime/cross-check.ts): each runtime's accuracy,
 * a clean refusal from a runtime too old for an operator version, and a loud failure when the
 * runtimes disagree beyond what the file's mode explains, as a per-channel hybrid
 * FULLY_CONNECTED written with the old version 3 makes them.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { KdqError } from '../../src/errors.ts';
import { exportTflite, type ExportOptions } from '../../src/tflite/export.ts';
import { minRuntimeVersion } from '../../src/tflite/op-version.ts';
import { readTflite } from '../../src/tflite/reader.ts';
import { compareOutputs, evaluateInEveryRuntime, type TfliteTestSet } from '../../src/tflite/runtime/index.ts';
import { loadRefusal, OpVersionRefused, refusedOpVersion } from '../../src/tflite/runtime/refusal.ts';
import { writeTflite } from '../../src/tflite/writer.ts';
import { SIDE, fitHead, flatModel, syntheticImages } from './export-fixtures.ts';

let model: tf.Sequential;
let testSet: TfliteTestSet;
const shape: ExportOptions['inputShape'] = [SIDE, SIDE, 1];
const calibration = syntheticImages(50, 3).x;

beforeAll(async () => {
  await tf.setBackend('cpu');
  model = flatModel();
  const train = syntheticImages(100, 1);
  fitHead(model, train.x, train.labels, 150);
  const test = syntheticImages(200, 2);
  testSet = { images: test.x, labels: Uint8Array.from(test.labels), imageShape: shape };
});

const FILE = 'student-dynamic-range.tflite';

describe('a dynamic-range file with per-channel dense weights, in both runtimes', () => {
  it("with the converter's FULLY_CONNECTED v12: LiteRT.js runs it, tfjs-tflite refuses it as too old, and that is recorded", async () => {
    const { bytes } = exportTflite(model, { mode: 'dynamic-range', perChannel: true, inputShape: shape });
    const r = await evaluateInEveryRuntime(bytes, testSet, { primary: 'litert', mode: 'dynamic-range', file: FILE });
    expect(r.runtimes.map((o) => [o.runtime, o.status])).toEqual([
      ['litert', 'ran'],
      ['tfjs-tflite', 'refused'],
    ]);
    expect(r.primary.accuracy).toBeGreaterThan(0.95);
    expect(r.runtimes[0]).toMatchObject({ accuracy: r.primary.accuracy, top1Agreement: 1, maxOutputDifference: 0 });
    const refused = r.runtimes[1]!;
    expect(refused.status === 'refused' && refused.reason).toMatch(
      /^tfjs-tflite is older than the FULLY_CONNECTED version 12 kernel and refused the model \(\d+ bytes\): .*Didn't find op for builtin opcode 'FULLY_CONNECTED' version '12'/,
    );
    expect(refused.runtimeVersion).toMatch(/^@tensorflow\/tfjs-tflite \d+\.\d+\.\d+/);
    expect(refused).toMatchObject({ missingKernel: 'FULLY_CONNECTED v12' });
    expect(r.primary).not.toHaveProperty('outputs');
  });

  it('written with the old v3: tfjs-tflite runs the per-tensor kernel on it, and the disagreement fails the evaluation', async () => {
    const m = readTflite(exportTflite(model, { mode: 'dynamic-range', perChannel: true, inputShape: shape }).bytes);
    const fc = m.operators.find((o) => o.op === 'FULLY_CONNECTED' && o.version === 12)!;
    fc.version = 3;
    m.metadata.min_runtime_version = minRuntimeVersion(m.operators);
    const e = await evaluateInEveryRuntime(writeTflite(m), testSet, { primary: 'litert', mode: 'dynamic-range', file: FILE }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(KdqError);
    const message = (e as KdqError).message;
    expect((e as KdqError).code).toBe('E_TFLITE');
    expect(message).toMatch(
      /^student-dynamic-range\.tflite: the TFLite runtimes disagree beyond what dynamic-range explains: @litertjs\/core \S+ scores \d+\.\d\d%, @tensorflow\/tfjs-tflite \S+ scores \d+\.\d\d%; they pick the same class on \d+\.\d\d% of the images \(at least 99\.00% expected\)/,
    );
    const [litert, tfjs] = [...message.matchAll(/scores (\d+\.\d\d)%/g)].map((x) => Number(x[1]));
    expect(litert! - tfjs!).toBeGreaterThan(30);
    expect(message).toContain('Likely cause: a hybrid operator whose version names a kernel for other weights');
    expect(message).toContain('FULLY_CONNECTED v3 (hybrid, per-channel weights)');
    expect(message).not.toContain('\n');
  });
});

describe('files both runtimes run agree within their mode', () => {
  it.each<[string, string, Partial<ExportOptions>]>([
    ['float32', '', { mode: 'float32' }],
    ['float16', '', { mode: 'float16' }],
    ['dynamic-range', 'per-tensor dense weights', { mode: 'dynamic-range' }],
    ['int8', 'float I/O', { mode: 'int8', calibration }],
    ['int8', 'int8 I/O, per-channel dense weights', { mode: 'int8', calibration, perChannel: true, inputType: 'int8', outputType: 'int8' }],
    ['int8', 'uint8 I/O', { mode: 'int8', calibration, inputType: 'uint8', outputType: 'uint8' }],
  ])('%s %s', async (mode, _what, opts) => {
    const { bytes } = exportTflite(model, { mode: 'float32', ...opts, inputShape: shape } as ExportOptions);
    const r = await evaluateInEveryRuntime(bytes, testSet, { primary: 'litert', mode, file: `${mode}.tflite`, reference: { self: new Uint8Array(200) } });
    expect(r.runtimes.map((o) => [o.runtime, o.status])).toEqual([
      ['litert', 'ran'],
      ['tfjs-tflite', 'ran'],
    ]);
    const other = r.runtimes[1]!;
    if (other.status !== 'ran') throw new Error('unreachable');
    expect(other.runtimeVersion).toMatch(/^@tensorflow\/tfjs-tflite /);
    expect(other.top1Agreement).toBeGreaterThanOrEqual(0.99);
    // Integer kernels agree bit for bit; float kernels to rounding.
    expect(other.maxOutputDifference).toBeLessThanOrEqual(mode === 'int8' ? 0 : mode === 'dynamic-range' ? 0.2 : 1e-5);
    expect(Math.abs(other.accuracy - r.primary.accuracy)).toBeLessThanOrEqual(mode === 'dynamic-range' ? 0.01 : 0);
    // The primary's agreement with reference models is computed as before.
    expect(Object.keys(r.primary.agreement)).toEqual(['self']);
  });

  it('refuses a mode it has no tolerance for', async () => {
    const { bytes } = exportTflite(model, { mode: 'float32', inputShape: shape });
    await expect(evaluateInEveryRuntime(bytes, testSet, { primary: 'litert', mode: 'int4', file: 'x.tflite' })).rejects.toThrow(
      /no runtime tolerance for mode "int4"/,
    );
  });
});

describe('compareOutputs', () => {
  const run = (predictions: number[], outputs: number[]) => ({ predictions: Uint8Array.from(predictions), outputs: Float32Array.from(outputs) });
  it('top-1 agreement, and the largest difference relative to magnitudes above 1', () => {
    const a = run([0, 1], [0.9, 0.1, 0.2, 300]);
    const b = run([0, 0], [0.9, 0.1, 0.7, 303]);
    const c = compareOutputs(a, b);
    expect(c.top1Agreement).toBe(0.5);
    expect(c.maxOutputDifference).toBeCloseTo(0.5, 6);
    expect(compareOutputs(a, a)).toEqual({ top1Agreement: 1, maxOutputDifference: 0 });
    expect(compareOutputs(run([0], [300]), run([0], [303])).maxOutputDifference).toBeCloseTo(3 / 303, 6);
  });
  it('NaN or infinity in one runtime only is an infinite difference; in both, none', () => {
    expect(compareOutputs(run([0], [NaN]), run([0], [0.5])).maxOutputDifference).toBe(Infinity);
    expect(compareOutputs(run([0], [Infinity]), run([0], [0.5])).maxOutputDifference).toBe(Infinity);
    expect(compareOutputs(run([0], [NaN]), run([0], [NaN])).maxOutputDifference).toBe(0);
    expect(compareOutputs(run([0], [Infinity]), run([0], [Infinity])).maxOutputDifference).toBe(0);
  });
});

describe('a runtime refusing a file', () => {
  const reason =
    "INVALID_ARGUMENT: Can't initialize model: ERROR: Didn't find op for builtin opcode 'FULLY_CONNECTED' version '12'. An older version of this builtin might be supported.";
  it('for an operator version it lacks: OpVersionRefused, naming op and version', () => {
    expect(refusedOpVersion(reason)).toEqual({ op: 'FULLY_CONNECTED', version: 12 });
    const e = loadRefusal('tfjs-tflite', 1000, reason);
    expect(e).toBeInstanceOf(OpVersionRefused);
    expect(e).toMatchObject({ runtime: 'tfjs-tflite', op: 'FULLY_CONNECTED', version: 12, code: 'E_TFLITE' });
  });
  it('for any other reason: a plain E_TFLITE error, which the evaluation does not excuse', () => {
    const e = loadRefusal('tfjs-tflite', 1000, 'quantized_dimension must be in range');
    expect(e).not.toBeInstanceOf(OpVersionRefused);
    expect(e.message).toBe(
      'tfjs-tflite rejected the model (1000 bytes): quantized_dimension must be in range; check the file with kdq inspect, or export it again',
    );
  });
});
