import { describe, expect, it } from 'vitest';
import type { DataConfig } from '../../src/config/types.ts';
import { floatInputs, modelInputs } from '../../src/data/model-inputs.ts';
import { channelStats, createConverter, resolvePreprocessing, type Preprocessing } from '../../src/data/preprocess.ts';

const cfg = (over: Partial<DataConfig>): DataConfig => ({ source: 'idx', trainLimit: null, testLimit: null, validationSplit: 0, ...over });
const none: Preprocessing = { scale: 1 / 255, mean: null, std: null, normalize: 'none' };

describe('the default conversion of bytes', () => {
  it('gives exactly v / 255 rounded to float32 for every byte, as kdq scaled MNIST before (its metrics stay byte-identical)', () => {
    const all = Uint8Array.from({ length: 256 }, (_, v) => v);
    const out = new Float32Array(256);
    createConverter(none, 'uint8', 1)(all, 0, 256, out, 0);
    expect(Array.from(out)).toEqual(Array.from(all, (v) => Math.fround(v / 255)));
    // The same through the 3-channel table.
    const rgb = new Float32Array(256);
    createConverter(none, 'uint8', 3)(all, 0, 255, rgb, 0);
    expect(Array.from(rgb.subarray(0, 255))).toEqual(Array.from(all.subarray(0, 255), (v) => Math.fround(v / 255)));
  });
});

describe('resolvePreprocessing', () => {
  const bytes = Uint8Array.from([0, 255, 0, 255]);
  it('scales bytes by 1/255 and floats by 1 unless told, and standardizes CSV columns by default', () => {
    expect(resolvePreprocessing(cfg({}), 'uint8', 1, bytes)).toEqual(none);
    expect(resolvePreprocessing(cfg({}), 'float32', 1, new Float32Array([1, 2]))).toEqual({ scale: 1, mean: null, std: null, normalize: 'none' });
    const table = Float32Array.from([1, 10, 3, 30]); // two rows of two features
    expect(resolvePreprocessing(cfg({ source: 'csv' }), 'float32', 2, table)).toEqual({ scale: 1, mean: [2, 20], std: [1, 10], normalize: 'auto' });
    expect(resolvePreprocessing(cfg({ source: 'csv', normalize: 'none' }), 'float32', 2, table).normalize).toBe('none');
  });

  it('takes a written scale, mean and std; one value stands for every channel', () => {
    const p = resolvePreprocessing(cfg({ scale: 1, mean: [127.5], std: [127.5, 63.75] }), 'uint8', 2, bytes);
    expect(p).toEqual({ scale: 1, mean: [127.5, 127.5], std: [127.5, 63.75], normalize: 'given' });
    expect(() => resolvePreprocessing(cfg({ mean: [1, 2] }), 'uint8', 3, bytes)).toThrow(/data.mean lists 2 values but the data has 3 channels/);
  });

  it('computes auto statistics per channel after scaling, and a constant channel divides by 1', () => {
    // Channel 0 takes 0 and 255, channel 1 is always 51.
    const x = Uint8Array.from([0, 51, 255, 51]);
    expect(channelStats(x, 2, 1 / 255)).toEqual({ mean: [0.5, 0.2], std: [0.5, 1] });
    const p = resolvePreprocessing(cfg({ normalize: 'auto' }), 'uint8', 2, x);
    const out = new Float32Array(4);
    createConverter(p, 'uint8', 2)(x, 0, 4, out, 0);
    expect(Array.from(out)).toEqual([-1, 0, 1, 0]);
  });
});

describe('model inputs', () => {
  const shape = [2, 1, 2];
  const x = Uint8Array.from([0, 255, 51, 102, 1, 2, 3, 4, 10, 20, 30, 40]); // three 2x1x2 examples
  const inputs = modelInputs(x, shape, 'uint8', none);

  it('converts a range, or rows in any order, a batch at a time', () => {
    expect(inputs.count).toBe(3);
    expect(Array.from(inputs.range(1, 2))).toEqual([1, 2, 3, 4].map((v) => Math.fround(v / 255)));
    expect(Array.from(inputs.gather([2, 0, 1], 0, 2))).toEqual([10, 20, 30, 40, 0, 255, 51, 102].map((v) => Math.fround(v / 255)));
  });

  it('hands a transform a copy of each stored example and its index, and never changes the stored data', () => {
    const seen: number[] = [];
    const out = inputs.gather([2, 0], 0, 2, (row, i) => {
      seen.push(i);
      row.fill(255);
    });
    expect(seen).toEqual([2, 0]);
    expect(Array.from(out)).toEqual(new Array(8).fill(1));
    expect(x[0]).toBe(0);
  });

  it('passes float32 model inputs through unchanged, and refuses a length that is not whole examples', () => {
    const f = Float32Array.from([0.5, -1, 2, 3]);
    expect(floatInputs(f, [2]).range(0, 2)).toEqual(f);
    expect(() => floatInputs(new Float32Array(5), [2])).toThrow(/5 values are not a whole number of \[2\] examples/);
  });
});
