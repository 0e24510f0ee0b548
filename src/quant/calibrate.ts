/**
 * Activation-range calibration: a RangeObserver per tensor sees that tensor's values on every
 * calibration batch, then reports its range by min/max or by a percentile of |value|.
 */
import { KdqError } from '../errors.ts';
import type { CalibrationMethod } from '../names.ts';
import { percentile } from './percentile.ts';

export interface Range {
  min: number;
  max: number;
}

export interface RangeOptions {
  method: CalibrationMethod;
  /** `percentile`: the percentile of |value| kept, e.g. 99.99. */
  percentile?: number;
}

export class RangeObserver {
  private min = Infinity;
  private max = -Infinity;
  /** Kept only for percentile calibration, which needs every value. */
  private readonly chunks: Float32Array[] = [];
  private count = 0;

  constructor(private readonly keepValues: boolean) {}

  observe(values: Float32Array): void {
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (!Number.isFinite(v)) {
        throw new KdqError(
          'E_TFLITE',
          `calibration saw a non-finite activation (${v}); the model's weights or inputs contain NaN/Infinity, retrain or check the data`,
        );
      }
      if (v < this.min) this.min = v;
      if (v > this.max) this.max = v;
    }
    if (this.keepValues) this.chunks.push(values.slice());
    this.count += values.length;
  }

  range(opts: RangeOptions): Range {
    if (this.count === 0) {
      throw new KdqError('E_TFLITE', 'calibration saw no values; give at least one calibration image (quantization.calibrationSamples >= 1)');
    }
    if (opts.method === 'minmax') return { min: this.min, max: this.max };
    const p = opts.percentile ?? 99.99;
    if (!(p > 0 && p <= 100)) {
      throw new KdqError('E_TFLITE', `calibration percentile ${p} is outside (0, 100]; use e.g. 99.99`);
    }
    if (!this.keepValues) throw new KdqError('E_INTERNAL', 'percentile calibration needs a RangeObserver created with keepValues = true');
    const abs = new Float32Array(this.count);
    let o = 0;
    for (const c of this.chunks) {
      for (let i = 0; i < c.length; i++) abs[o++] = Math.abs(c[i]);
    }
    const a = percentile(abs, p);
    // Clip only the tails that pass the percentile; a one-sided range (ReLU) stays one-sided.
    return { min: Math.max(this.min, -a), max: Math.min(this.max, a) };
  }
}
