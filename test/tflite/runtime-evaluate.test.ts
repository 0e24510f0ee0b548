import { describe, expect, it } from 'vitest';
import { KdqError } from '../../src/errors.ts';
import { inputWriter } from '../../src/tflite/runtime/evaluate.ts';
import { evaluateTflite, RUNTIMES, type TfliteTestSet } from '../../src/tflite/runtime/index.ts';
import { createRng } from '../../src/util/random.ts';
import { denseFixture } from './runtime-fixtures.ts';

// An MNIST-sized classifier: 28 x 28 x 1 pixels -> 10 classes, one seeded dense layer.
const fx = denseFixture(784, 10, 5);
const N = 600;
const rng = createRng(77);
const images = Float32Array.from({ length: N * 784 }, () => rng());
const image = (i: number): Float32Array => images.subarray(i * 784, (i + 1) * 784);

function argmax(v: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i]! > v[best]!) best = i;
  return best;
}

/** What the quantized model must predict: argmax of the plain-JS int8 kernel on each image. */
const int8Predictions = Uint8Array.from({ length: N }, (_, i) => argmax(fx.int8(fx.quantizeInput(image(i)))));
/** Labels that agree with those predictions on exactly the first 60% of the images. */
const labels = Uint8Array.from(int8Predictions, (p, i) => (i < 0.6 * N ? p : (p + 1) % 10));
const testSet: TfliteTestSet = { images, labels, imageShape: [28, 28, 1] };

async function tfliteError(p: Promise<unknown>): Promise<KdqError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(KdqError);
  expect((e as KdqError).code).toBe('E_TFLITE');
  return e as KdqError;
}

describe('inputWriter', () => {
  const x = Float32Array.from([0.25, -0.25, 0.75, -0.75, 0.1, 1000, -1000]);
  it('quantizes int8 inputs rounding half away from zero, then clamps', () => {
    const w = inputWriter({ name: 'x', shape: [1, 7], dtype: 'int8', quantization: { scale: 0.5, zeroPoint: 3 } });
    expect(Array.from(w(x))).toEqual([4, 2, 5, 1, 3, 127, -128]);
  });
  it('quantizes uint8 inputs into [0, 255]', () => {
    const w = inputWriter({ name: 'x', shape: [1, 7], dtype: 'uint8', quantization: { scale: 0.5, zeroPoint: 128 } });
    expect(Array.from(w(x))).toEqual([129, 127, 130, 126, 128, 255, 0]);
  });
  it('passes float32 images through and refuses int8 inputs without a scale', () => {
    expect(inputWriter({ name: 'x', shape: [1, 7], dtype: 'float32' })(x)).toBe(x);
    expect(() => inputWriter({ name: 'x', shape: [1, 7], dtype: 'int8' })).toThrow(/input "x" is int8 but carries no single positive scale/);
  });
});

describe.each(RUNTIMES)('evaluateTflite in %s', (runtime) => {
  it('quantizes float images itself for int8 and uint8 inputs and predicts what the int8 kernel computes', async () => {
    for (const file of [fx.files.int8Io, fx.files.uint8Io, fx.files.int8FloatIo]) {
      const r = await evaluateTflite(file, testSet, { runtime, reference: { same: int8Predictions, shifted: labels } });
      expect(Array.from(r.predictions)).toEqual(Array.from(int8Predictions));
      expect(r.accuracy).toBe(0.6);
      expect(r.agreement).toEqual({ same: 1, shifted: 0.6 });
      expect(r.runtime).toBe(runtime);
      expect(r.runtimeVersion).toMatch(runtime === 'litert' ? /^@litertjs\/core \d+\.\d+\.\d+/ : /^@tensorflow\/tfjs-tflite \d+\.\d+\.\d+/);
      expect(r.latencyMsPerImage).toBeGreaterThan(0);
      expect(r.latencyMsPerImage).toBeLessThan(50);
    }
  });

  it('runs a float model on the raw images', async () => {
    const r = await evaluateTflite(fx.files.float, testSet, { runtime });
    // Compare with float64 argmax wherever the top two classes are not within rounding of each other.
    let compared = 0;
    const mismatches: number[] = [];
    for (let i = 0; i < N; i++) {
      const y = fx.float(image(i));
      const top = argmax(y);
      const second = Math.max(...y.filter((_, j) => j !== top));
      if (y[top]! - second < 1e-4) continue;
      compared++;
      if (r.predictions[i] !== top) mismatches.push(i);
    }
    expect(mismatches).toEqual([]);
    expect(compared).toBeGreaterThan(0.99 * N);
    expect(r.agreement).toEqual({});
    const correct = r.predictions.reduce((n, p, i) => n + (p === labels[i] ? 1 : 0), 0);
    expect(r.accuracy).toBe(correct / N);
  });

  it('says what is wrong with a test set that does not fit the model', async () => {
    const e1 = await tfliteError(evaluateTflite(fx.files.int8Io, { ...testSet, imageShape: [28, 28, 3] }, { runtime }));
    expect(e1.message).toMatch(/600 labels and 470400 values; expected 600 x 28 x 28 x 3 = 1411200/);
    const small = { images: images.subarray(0, 10 * 100), labels: labels.subarray(0, 10), imageShape: [10, 10, 1] as [number, number, number] };
    const e2 = await tfliteError(evaluateTflite(fx.files.int8Io, small, { runtime }));
    expect(e2.message).toMatch(/input "x" has shape \[1, 784\] but the images are 10 x 10 x 1/);
    const e3 = await tfliteError(evaluateTflite(fx.files.int8Io, testSet, { runtime, reference: { teacher: labels.subarray(0, 5) } }));
    expect(e3.message).toMatch(/reference "teacher" has 5 predictions for 600 test images/);
    await tfliteError(evaluateTflite(fx.files.int8Io, { ...testSet, imageShape: [28, 0, 1] }, { runtime }));
  });
});
