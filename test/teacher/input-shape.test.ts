/** Matching a model's declared input to the data's images, and preparing a batch for it. */
import { describe, expect, it } from 'vitest';
import { KdqError } from '../../src/errors.ts';
import { matchInput, prepareInput } from '../../src/teacher/input-shape.ts';
import type { TeacherSettings } from '../../src/teacher/types.ts';

const RGB: [number, number, number] = [32, 32, 3];
const GRAY: [number, number, number] = [28, 28, 1];

function message(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(KdqError);
    expect((e as KdqError).code).toBe('E_TEACHER');
    return (e as KdqError).message;
  }
  throw new Error('expected an error');
}

describe('matchInput', () => {
  it('accepts NCHW and NHWC images with a symbolic or fixed batch, and gives the batch shape', () => {
    const nchw = matchInput([null, 3, 32, 32], RGB, 'nchw', 'm.onnx', true);
    expect([nchw.form, nchw.fixedBatch, nchw.shape(5)]).toEqual(['image', null, [5, 3, 32, 32]]);
    const nhwc = matchInput([1, 32, 32, 3], RGB, 'nhwc', 'm.tflite', true);
    expect([nhwc.fixedBatch, nhwc.shape(1)]).toEqual([1, [1, 32, 32, 3]]);
  });

  it('accepts symbolic spatial sizes, images without a channel axis, and flattened images', () => {
    expect(matchInput([null, 3, null, null], RGB, 'nchw', 'm', true).shape(2)).toEqual([2, 3, 32, 32]);
    expect(matchInput([null, 28, 28], GRAY, 'nchw', 'm', true).form).toBe('channelless');
    expect(matchInput([null, 784], GRAY, 'nchw', 'm', true).shape(4)).toEqual([4, 784]);
  });

  it('names the layout to set when the shape fits only the other one, saying whether the setting was a default', () => {
    expect(message(() => matchInput([null, 32, 32, 3], RGB, 'nchw', 'm.onnx', true))).toBe(
      "teacher model 'm.onnx' takes input [batch, 32, 32, 3], which is NHWC for the data's 32x32x3 (height x width x channels) images, " +
        'but inputLayout is nchw (the default for this format); set inputLayout: nhwc',
    );
    expect(message(() => matchInput([null, 3, 32, 32], RGB, 'nhwc', 'm.onnx', false))).toMatch(/NCHW .*but inputLayout is nhwc; set inputLayout: nchw$/);
  });

  it('names both shapes when the model is for other images, for every input rank', () => {
    expect(message(() => matchInput([null, 1, 28, 28], RGB, 'nchw', 'm', true))).toMatch(/NCHW images of 28x28x1, but the data's images are 32x32x3/);
    expect(message(() => matchInput([null, 28, 28], RGB, 'nchw', 'm', true))).toMatch(/without a channel axis/);
    expect(message(() => matchInput([null, 784], RGB, 'nchw', 'm', true))).toMatch(/flat input \[batch, 784\] but .* = 3072 values/);
    expect(message(() => matchInput([null, 1, 1, 28, 28], GRAY, 'nchw', 'm', true))).toMatch(/of rank 5/);
  });
});

describe('prepareInput', () => {
  const settings = (s: Partial<TeacherSettings>): TeacherSettings => ({ inputLayout: 'nhwc', output: 'auto', scale: 1, mean: [0, 0, 0], std: [1, 1, 1], ...s });

  it('computes (x * scale - mean) / std per channel and moves channels first for NCHW', () => {
    // One 1x2 image with 3 channels, NHWC: pixel 0 = (0.1, 0.2, 0.3), pixel 1 = (0.4, 0.5, 0.6).
    const images = Float32Array.from([0.1, 0.2, 0.3, 0.4, 0.5, 0.6]);
    const s = settings({ inputLayout: 'nchw', scale: 255, mean: [10, 20, 30], std: [2, 4, 5] });
    const out = prepareInput(images, 0, 1, [1, 2, 3], s, 'image', new Float32Array(6));
    const want = [(25.5 - 10) / 2, (102 - 10) / 2, (51 - 20) / 4, (127.5 - 20) / 4, (76.5 - 30) / 5, (153 - 30) / 5];
    out.forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 4));
    const nhwc = prepareInput(images, 0, 1, [1, 2, 3], { ...s, inputLayout: 'nhwc' }, 'image', new Float32Array(6));
    expect(Array.from(nhwc, (v) => Number(v.toFixed(4)))).toEqual([7.75, 7.75, 9.3, 46, 26.875, 24.6]);
  });

  it('starts at the given image and zero-pads a fixed-size batch', () => {
    const images = Float32Array.from([1, 2, 3, 4]);
    const out = prepareInput(images, 2, 2, [1, 1, 1], settings({ mean: [0], std: [1] }), 'image', new Float32Array(3).fill(9));
    expect(Array.from(out)).toEqual([3, 4, 0]);
  });
});
