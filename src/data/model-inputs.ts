/**
 * Examples as a model takes them, made on demand: the stored values (uint8 images stay bytes, a
 * quarter of float32's memory) are converted a batch at a time, so no float copy of a whole split
 * ever exists. Training, soft labels, evaluation and calibration all read examples through this.
 */
import { KdqError } from '../errors.ts';
import type { ElementType, ExampleArray } from './formats/types.ts';
import { createConverter, type Preprocessing } from './preprocess.ts';

/** Changes one stored example in place before conversion (augmentation); `example` is its index in the split. */
export type ExampleTransform = (row: ExampleArray, example: number) => void;

export interface ModelInputs {
  /** Number of examples. */
  count: number;
  /** Shape of one example: [H, W, C] or [F]. */
  shape: readonly number[];
  /** Examples [start, end) as model inputs, in a new array. */
  range(start: number, end: number): Float32Array;
  /** Examples order[start..end) as model inputs, in a new array; `transform` changes each stored example first. */
  gather(order: ArrayLike<number>, start: number, end: number, transform?: ExampleTransform): Float32Array;
}

/** Values per example: the product of the shape. */
export function exampleSize(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** The examples of `x` (stored as `dtype`) through `prep`; null `prep` means x already holds model inputs (float32). */
export function modelInputs(x: ExampleArray, shape: readonly number[], dtype: ElementType, prep: Preprocessing | null): ModelInputs {
  const size = exampleSize(shape);
  if (!(size > 0) || x.length % size !== 0) {
    throw new KdqError('E_INTERNAL', `${x.length} values are not a whole number of [${shape.join(', ')}] examples`);
  }
  const channels = shape[shape.length - 1];
  const convert = prep ? createConverter(prep, dtype, channels) : createConverter({ scale: 1, mean: null, std: null, normalize: 'none' }, 'float32', channels);
  const count = x.length / size;
  return {
    count,
    shape,
    range(start, end) {
      const out = new Float32Array((end - start) * size);
      convert(x, start * size, (end - start) * size, out, 0);
      return out;
    },
    gather(order, start, end, transform) {
      const out = new Float32Array((end - start) * size);
      const row = transform ? (x instanceof Uint8Array ? new Uint8Array(size) : new Float32Array(size)) : null;
      for (let i = start; i < end; i++) {
        const at = order[i] * size;
        if (row && transform) {
          row.set(x.subarray(at, at + size));
          transform(row, order[i]);
          convert(row, 0, size, out, (i - start) * size);
        } else convert(x, at, size, out, (i - start) * size);
      }
      return out;
    },
  };
}

/** Float32 model inputs as they are (tests, and arrays already converted). */
export function floatInputs(x: Float32Array, shape: readonly number[]): ModelInputs {
  return modelInputs(x, shape, 'float32', null);
}
