/**
 * The one in-memory form every data format reader returns, and what a cheap probe of the same
 * files returns. Pixels stay in the element type of the file (uint8 images stay uint8, a quarter
 * of float32's memory; training converts and scales per batch); float32 sources stay float32.
 */
import type { DataFormat } from '../../names.ts';

/** Element type of the examples as stored in memory. */
export type ElementType = 'uint8' | 'float32';

/** Examples of one split, row-major: NHWC for images, [N, F] for tabular rows. */
export type ExampleArray = Uint8Array | Float32Array;

/** One split (training or test) of a dataset. */
export interface Split {
  /** Number of examples. */
  count: number;
  /** `count * product(inputShape)` values, example after example. */
  x: ExampleArray;
  /** Class index of each example, 0 .. numClasses - 1. */
  y: Int32Array;
}

/** What a probe learns without decoding the examples, and what every read dataset also carries. */
export interface DataInfo {
  format: DataFormat;
  /** Shape of one example: `[H, W, C]` for images, `[F]` for tabular rows. */
  inputShape: number[];
  dtype: ElementType;
  numClasses: number;
  /** Name of each class, index = class; null when the format has none (IDX, numeric labels). */
  classNames: string[] | null;
  /** Column names of the features of tabular data (CSV header); null for images. */
  featureNames: string[] | null;
  trainCount: number;
  testCount: number;
}

/** A decoded dataset: its description and both splits. */
export interface DecodedData extends DataInfo {
  train: Split;
  test: Split;
}

/** Values per example: the product of the input shape. */
export function valuesPerExample(inputShape: readonly number[]): number {
  return inputShape.reduce((a, b) => a * b, 1);
}
