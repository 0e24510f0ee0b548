/**
 * What turns stored values into the numbers a model takes: `x = (v * scale - mean[c]) / std[c]`
 * for the value v of channel c (the last axis: an image's colour channel, a table's column).
 * The same formula serves training, evaluation, calibration and the exported .tflite file's
 * documentation, so an app that applies it to raw pixels or rows feeds the file what tf.js saw.
 */
import type { DataConfig } from '../config/types.ts';
import { DEFAULT_SCALE, defaultNormalize } from '../config/defaults.ts';
import { KdqError } from '../errors.ts';
import type { DataSource } from '../names.ts';
import type { ElementType, ExampleArray } from './formats/types.ts';

export interface Preprocessing {
  /** Multiplier of the stored values. */
  scale: number;
  /** Per channel, subtracted after scaling; null: nothing subtracted. */
  mean: number[] | null;
  /** Per channel, divides after the mean is subtracted; null: nothing divides. */
  std: number[] | null;
  /** Where mean and std come from: computed on the training split, written in the file, or none. */
  normalize: 'auto' | 'given' | 'none';
}

/** The default scale of a source reading `dtype` data: 1/255 for bytes, 1 for floats. */
export function defaultScale(source: DataSource, dtype: ElementType): number {
  return DEFAULT_SCALE[source] ?? (dtype === 'uint8' ? 1 / 255 : 1);
}

/** A written mean or std as one value per channel (one value stands for every channel). */
function perChannel(values: number[], channels: number, key: string): number[] {
  if (values.length === 1) return new Array<number>(channels).fill(values[0]);
  if (values.length !== channels) {
    throw new KdqError('E_CONFIG', `data.${key} lists ${values.length} values but the data has ${channels} channels; give one value, or one per channel`);
  }
  return [...values];
}

/**
 * Mean and (population) standard deviation of each channel of `x` after scaling, summed in double
 * precision in storage order, so the same examples always give the same numbers. A channel that
 * never varies gets std 1: dividing by 0 would make every value infinite.
 */
export function channelStats(x: ExampleArray, channels: number, scale: number): { mean: number[]; std: number[] } {
  const n = x.length / channels;
  const sum = new Float64Array(channels);
  for (let i = 0; i < x.length; i++) sum[i % channels] += x[i] * scale;
  const mean = Array.from(sum, (s) => s / n);
  const sq = new Float64Array(channels);
  for (let i = 0; i < x.length; i++) {
    const d = x[i] * scale - mean[i % channels];
    sq[i % channels] += d * d;
  }
  const std = Array.from(sq, (s) => {
    const sd = Math.sqrt(s / n);
    return sd > 0 ? sd : 1;
  });
  return { mean, std };
}

/**
 * The preprocessing of a dataset: its config (scale, mean and std, normalize) with the defaults
 * of its source and element type; `normalize: auto` computes mean and std on `train`, the
 * examples the models are trained on.
 */
export function resolvePreprocessing(cfg: DataConfig, dtype: ElementType, channels: number, train: ExampleArray): Preprocessing {
  const scale = cfg.scale ?? defaultScale(cfg.source, dtype);
  const normalize = cfg.normalize ?? defaultNormalize(cfg.source);
  if (normalize === 'auto') return { scale, ...channelStats(train, channels, scale), normalize: 'auto' };
  const mean = cfg.mean ? perChannel(cfg.mean, channels, 'mean') : null;
  const std = cfg.std ? perChannel(cfg.std, channels, 'std') : null;
  return { scale, mean, std, normalize: mean || std ? 'given' : 'none' };
}

/** Writes `count` stored values from `src[from]` on as model inputs into `out[to]` on; channel = position mod channels. */
export type Converter = (src: ExampleArray, from: number, count: number, out: Float32Array, to: number) => void;

/**
 * The converter of a preprocessing for `dtype` values with `channels` channels. Bytes go through
 * a table of 256 float32 values per channel; each entry is computed in double precision and
 * rounded once, so 1/255 scaling gives exactly v / 255 rounded to float32, as kdq always did.
 */
export function createConverter(p: Preprocessing, dtype: ElementType, channels: number): Converter {
  const mean = p.mean ?? new Array<number>(channels).fill(0);
  const std = p.std ?? new Array<number>(channels).fill(1);
  const f = (v: number, c: number) => (v * p.scale - mean[c]) / std[c];
  if (dtype === 'uint8') {
    const table = new Float32Array(256 * channels);
    for (let c = 0; c < channels; c++) for (let v = 0; v < 256; v++) table[c * 256 + v] = f(v, c);
    if (channels === 1) {
      return (src, from, count, out, to) => {
        for (let i = 0; i < count; i++) out[to + i] = table[src[from + i]];
      };
    }
    return (src, from, count, out, to) => {
      // `from` is always a whole example, so position i has channel i mod channels.
      for (let i = 0; i < count; i++) out[to + i] = table[(i % channels) * 256 + src[from + i]];
    };
  }
  if (p.scale === 1 && p.mean === null && p.std === null) {
    return (src, from, count, out, to) => out.set(src.subarray(from, from + count), to);
  }
  return (src, from, count, out, to) => {
    for (let i = 0; i < count; i++) out[to + i] = f(src[from + i], i % channels);
  };
}
