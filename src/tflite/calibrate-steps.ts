/**
 * Calibrates every activation tensor of a LoweredModel: runs the float graph on the calibration
 * examples in batches and feeds each step's output to a RangeObserver.
 */
import * as tf from '@tensorflow/tfjs';
import { KdqError } from '../errors.ts';
import type { CalibrationMethod } from '../names.ts';
import { RangeObserver, type Range } from '../quant/calibrate.ts';
import { forwardLowered } from './forward.ts';
import type { LoweredModel } from './lower.ts';

export interface CalibrationResult {
  images: number;
  /** Range of the input images. */
  input: Range;
  /** Range of each step's output (the last one: the logits). */
  steps: Range[];
}

const BATCH = 64;

export function calibrateSteps(m: LoweredModel, images: Float32Array, opts: { method: CalibrationMethod; percentile?: number }): CalibrationResult {
  const per = m.inputShape.reduce((a, b) => a * b, 1);
  if (images.length === 0 || images.length % per !== 0) {
    throw new KdqError(
      'E_TFLITE',
      `calibration data has ${images.length} values, not a whole number of ${m.inputShape.join('x')} examples; pass examples of the model's input shape`,
    );
  }
  const n = images.length / per;
  const keep = opts.method === 'percentile';
  const input = new RangeObserver(false);
  input.observe(images);
  const observers = m.steps.map(() => new RangeObserver(keep));
  for (let start = 0; start < n; start += BATCH) {
    const count = Math.min(BATCH, n - start);
    const x = tf.tensor(images.subarray(start * per, (start + count) * per), [count, ...m.inputShape], 'float32');
    const outs = forwardLowered(m, x);
    outs.forEach((t, i) => observers[i].observe(t.dataSync() as Float32Array));
    tf.dispose([x, ...outs]);
  }
  // The input keeps its full range: clipping pixels only loses information the model needs.
  return { images: n, input: input.range({ method: 'minmax' }), steps: observers.map((o) => o.range(opts)) };
}
