/**
 * What an app must feed an exported .tflite file, beyond what its input tensor's shape and type
 * say: where the values come from (pixels, table columns) and the preprocessing kdq trained with.
 * kdq does not fold the preprocessing into the file: the file takes exactly the input the tf.js
 * model took, and this description travels in the file's metadata (`kdq_input`, JSON) so that
 * `kdq inspect` can print the formula. A uint8 image set with the default preprocessing (value /
 * 255) and no class names, the only kind kdq exported before, gets no entry: its files stay
 * byte for byte what they were.
 */
import type { ElementType } from './formats/types.ts';
import type { Preprocessing } from './preprocess.ts';

/** Name of the metadata entry. */
export const INPUT_METADATA = 'kdq_input';

export interface InputDescription {
  /** `image`: NHWC, rows top to bottom, RGB or one grey channel; `features`: the table's columns in `features` order. */
  kind: 'image' | 'features';
  /** One example's shape: [H, W, C] or [F]. */
  shape: number[];
  /** What the raw values are: bytes 0..255, or float32 values as stored. */
  values: ElementType;
  scale: number;
  /** Per channel (or feature); null: 0. */
  mean: number[] | null;
  /** Per channel (or feature); null: 1. */
  std: number[] | null;
  /** Output i is class `classes[i]`; null: the class index itself. */
  classes: string[] | null;
  /** `features`: the column names, in input order. */
  features: string[] | null;
  /** The data source it was trained on (`cifar10`, `folder`, `csv`, ...). */
  source: string;
}

interface Described {
  source: string;
  inputShape: number[];
  dtype: ElementType;
  preprocessing: Preprocessing;
  classNames: string[] | null;
  featureNames: string[] | null;
}

/** True for uint8 data scaled by 1/255 and nothing else: what kdq always did, and what needs no explanation in files and metrics. */
export function isDefaultInput(d: Pick<Described, 'dtype' | 'preprocessing'>): boolean {
  return d.dtype === 'uint8' && d.preprocessing.scale === 1 / 255 && d.preprocessing.mean === null && d.preprocessing.std === null;
}

/** The description of a dataset's inputs, or null for the default input without class names (no entry is written). */
export function describeInput(d: Described): InputDescription | null {
  if (isDefaultInput(d) && d.classNames === null && d.featureNames === null) return null;
  return {
    kind: d.inputShape.length === 3 ? 'image' : 'features',
    shape: [...d.inputShape],
    values: d.dtype,
    scale: d.preprocessing.scale,
    mean: d.preprocessing.mean,
    std: d.preprocessing.std,
    classes: d.classNames,
    features: d.featureNames,
    source: d.source,
  };
}

const num = (v: number) => String(Number(v.toPrecision(6)));
const list = (v: number[]) => `[${v.map(num).join(', ')}]`;

/** The formula an app applies, e.g. `x = (pixel * 0.00392157 - mean[c]) / std[c]`, and the values of mean and std. */
export function inputFormula(d: Pick<InputDescription, 'kind' | 'scale' | 'mean' | 'std'>): string {
  const v = d.kind === 'image' ? 'pixel' : 'value';
  const c = d.kind === 'image' ? 'c' : 'f';
  let x = d.scale === 1 ? v : d.scale === 1 / 255 ? `${v} / 255` : `${v} * ${num(d.scale)}`;
  if (d.mean) x = `(${x} - mean[${c}])`;
  if (d.std) x = `${x} / std[${c}]`;
  const parts = [`x = ${x}`];
  if (d.mean) parts.push(`mean = ${list(d.mean)}`);
  if (d.std) parts.push(`std = ${list(d.std)}`);
  return parts.join(', ');
}
