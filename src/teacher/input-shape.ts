/**
 * How a teacher's input tensor relates to kdq's NHWC images: its declared shape is checked against
 * the data's [height, width, channels] under the configured layout, and when it only fits under
 * the other layout the error says which `inputLayout` to set. Also turns a batch of kdq's images
 * into the teacher's input: its own scale, mean and std, then its layout.
 */
import { KdqError } from '../errors.ts';
import type { TeacherInputLayout } from '../names.ts';
import type { TeacherSettings } from './types.ts';

/** A declared dimension: a size, or null for a symbolic or unknown one (`batch`, -1). */
export type Dim = number | null;

/**
 * `image`: [batch, ...3 dims] in `layout`; `channelless`: [batch, height, width] of 1-channel images;
 * `flat`: [batch, height * width * channels] in `layout`'s order (an MLP's flattened input).
 */
export type InputForm = 'image' | 'channelless' | 'flat';

export interface MatchedInput {
  form: InputForm;
  /** The batch size the model was exported with, or null when it takes any. */
  fixedBatch: number | null;
  /** The shape of one batch of `batch` images, as the runtime is given it. */
  shape(batch: number): number[];
}

function fits(dims: readonly Dim[], want: readonly number[]): boolean {
  return dims.length === want.length && dims.every((d, i) => d === null || d === want[i]);
}

/** [h, w, c] read from the three non-batch dims under `layout`. */
function asHwc(dims: readonly Dim[], layout: TeacherInputLayout): Dim[] {
  return layout === 'nchw' ? [dims[1]!, dims[2]!, dims[0]!] : [...dims];
}

export function dimsText(dims: readonly Dim[], batchName = 'batch'): string {
  return `[${dims.map((d, i) => (d === null ? (i === 0 ? batchName : '?') : String(d))).join(', ')}]`;
}

/**
 * Checks a model input of declared shape `dims` (batch first) against images of `hwc` and returns
 * how to feed it. Throws E_TEACHER naming `path`: wrong rank, wrong size, or the other layout.
 */
export function matchInput(
  dims: readonly Dim[],
  hwc: readonly [number, number, number],
  layout: TeacherInputLayout,
  path: string,
  layoutIsDefault: boolean,
): MatchedInput {
  const [h, w, c] = hwc;
  const batch = dims[0] ?? null;
  const fixedBatch = batch !== null && batch > 0 ? batch : null;
  const rest = dims.slice(1).map((d) => (d !== null && d > 0 ? d : null));
  const images = `${h}x${w}x${c} (height x width x channels)`;
  const setting = `inputLayout is ${layout}${layoutIsDefault ? ' (the default for this format)' : ''}`;
  if (rest.length === 3) {
    if (fits(asHwc(rest, layout), hwc)) {
      return { form: 'image', fixedBatch, shape: (n) => (layout === 'nchw' ? [n, c, h, w] : [n, h, w, c]) };
    }
    const other: TeacherInputLayout = layout === 'nchw' ? 'nhwc' : 'nchw';
    if (fits(asHwc(rest, other), hwc)) {
      throw new KdqError(
        'E_TEACHER',
        `teacher model '${path}' takes input ${dimsText(dims)}, which is ${other.toUpperCase()} for the data's ${images} images, ` +
          `but ${setting}; set inputLayout: ${other}`,
      );
    }
    const [mh, mw, mc] = asHwc(rest, layout);
    throw new KdqError(
      'E_TEACHER',
      `teacher model '${path}' takes input ${dimsText(dims)}: ${layout.toUpperCase()} images of ${mh ?? '?'}x${mw ?? '?'}x${mc ?? '?'}, ` +
        `but the data's images are ${images}; use a teacher trained on images of this size and channel count`,
    );
  }
  if (rest.length === 2) {
    if (c === 1 && fits(rest, [h, w])) return { form: 'channelless', fixedBatch, shape: (n) => [n, h, w] };
    throw new KdqError(
      'E_TEACHER',
      `teacher model '${path}' takes input ${dimsText(dims)} (images without a channel axis) but the data's images are ${images}; ` +
        'use a teacher trained on images of this size and channel count',
    );
  }
  if (rest.length === 1) {
    if (fits(rest, [h * w * c])) return { form: 'flat', fixedBatch, shape: (n) => [n, h * w * c] };
    throw new KdqError(
      'E_TEACHER',
      `teacher model '${path}' takes flat input ${dimsText(dims)} but the data's images are ${images} = ${h * w * c} values; ` +
        'use a teacher trained on images of this size and channel count',
    );
  }
  throw new KdqError(
    'E_TEACHER',
    `teacher model '${path}' takes input ${dimsText(dims)} of rank ${dims.length}; a teacher takes a batch of images: ` +
      '[batch, channels, height, width], [batch, height, width, channels], [batch, height, width] or [batch, values]',
  );
}

/**
 * The teacher's input for `n` images starting at image `start` of `images` (NHWC, [0, 1]):
 * `(x * scale - mean[c]) / std[c]`, then channels first when the model is NCHW. `out` is written
 * (and zero-padded) up to its length, so a fixed-batch model can be given a full batch.
 */
export function prepareInput(
  images: Float32Array,
  start: number,
  n: number,
  hwc: readonly [number, number, number],
  settings: TeacherSettings,
  form: InputForm,
  out: Float32Array,
): Float32Array {
  const [h, w, c] = hwc;
  const pixels = h * w * c;
  const mul = settings.std.map((s) => settings.scale / s);
  const add = settings.mean.map((m, k) => -m / settings.std[k]!);
  const src = images.subarray(start * pixels, (start + n) * pixels);
  const channelsFirst = c > 1 && settings.inputLayout === 'nchw' && form !== 'channelless';
  if (!channelsFirst) {
    for (let i = 0; i < src.length; i++) {
      const k = i % c;
      out[i] = src[i]! * mul[k]! + add[k]!;
    }
  } else {
    const plane = h * w;
    for (let img = 0; img < n; img++) {
      const base = img * pixels;
      for (let p = 0; p < plane; p++) {
        for (let k = 0; k < c; k++) out[base + k * plane + p] = src[base + p * c + k]! * mul[k]! + add[k]!;
      }
    }
  }
  out.fill(0, src.length);
  return out;
}
