/**
 * Dropout whose masks come from the run's seed. tf.js's own dropout layer either draws from an
 * unseeded generator (no `seed`) or, given a `seed`, draws the very same mask on every training
 * step, which is no dropout at all. This layer derives a fresh seed per training call from its
 * own seed and a call counter, so two runs of the same seed see the same sequence of masks.
 */
import * as tf from '@tensorflow/tfjs';
import { deriveSeed } from '../util/random.ts';

export interface SeededDropoutArgs {
  /** Fraction of units zeroed during training, in [0, 1). */
  rate: number;
  /** Seed of the mask sequence. */
  seed: number;
  name: string;
  /** Only when this is the model's first layer. */
  inputShape?: number[];
}

export class SeededDropout extends tf.layers.Layer {
  static className = 'SeededDropout';
  readonly rate: number;
  readonly seed: number;
  /** Training calls so far: the mask of call k is drawn from deriveSeed(seed, `mask-k`). */
  private calls = 0;
  /**
   * Which data-parallel replica this copy of the layer runs in: replica 0 draws the masks a
   * single-threaded run draws, replica r > 0 its own stream, so no two shards share a mask.
   */
  replica = 0;

  constructor(args: SeededDropoutArgs) {
    super({ name: args.name, inputShape: args.inputShape });
    if (!(args.rate >= 0 && args.rate < 1)) {
      throw new RangeError(`dropout rate ${args.rate} is outside [0, 1); use e.g. rate: 0.25`);
    }
    this.rate = args.rate;
    this.seed = args.seed >>> 0;
    this.supportsMasking = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    return inputShape;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: { training?: boolean }): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    // Like tf.js's own dropout, inference passes the input through untouched.
    if (kwargs.training !== true || this.rate === 0) return x;
    const seed = deriveSeed(this.seed, this.replica === 0 ? `mask-${this.calls++}` : `mask-${this.calls++}-r${this.replica}`);
    return tf.tidy(() => {
      const keep = 1 - this.rate;
      // floor(u + keep) is 1 with probability keep; scaling by 1/keep keeps the expected sum.
      const mask = tf.floor(tf.add(tf.randomUniform(x.shape, 0, 1, 'float32', seed), keep));
      return tf.mul(x, tf.div(mask, keep));
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), rate: this.rate, seed: this.seed };
  }
}

tf.serialization.registerClass(SeededDropout);
