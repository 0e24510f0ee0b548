/**
 * The training loop: our own seeded shuffle and batches, one optimizer step per batch, and a
 * divergence check on every step. tf.js `fit` is not used because it shuffles with unseeded
 * Math.random and slices one big tensor per batch.
 */
import type * as tf from '@tensorflow/tfjs';
import type { DistillationConfig, LayerSpec, TrainingConfig } from '../config/types.ts';
import { KdqError } from '../errors.ts';
import type { ElementType, ExampleArray } from '../data/formats/types.ts';
import { exampleSize } from '../data/model-inputs.ts';
import type { Preprocessing } from '../data/preprocess.ts';
import { classesMessage } from '../models/shapes.ts';
import { epochOrder } from './batches.ts';
import { EarlyStopping, type EarlyStoppingOutcome } from './early-stopping.ts';
import type { ShardData } from './shard.ts';
import { createStepper } from './stepper.ts';
import { checkValidationData, validate, type ValidationData } from './validation.ts';

export { predictLogits } from './predict.ts';
export { accuracy, agreement, confusionMatrix, perClassAccuracy } from './metrics.ts';

/** Statistics of one finished epoch. */
export interface EpochStats {
  /** 1-based. */
  epoch: number;
  epochs: number;
  /** Mean training loss per image over the epoch (weights changing as it goes). */
  loss: number;
  /** Training accuracy over the epoch, from the logits each step computed. */
  accuracy: number;
  samples: number;
  samplesPerSecond: number;
  seconds: number;
  /** The learning rate every step of this epoch used (training.schedule). */
  learningRate: number;
  /** Cross-entropy and accuracy on the held-out images after the epoch (with a validation split). */
  valLoss?: number;
  valAccuracy?: number;
}

/** Running statistics after one step. */
export interface BatchStats {
  /** 1-based. */
  epoch: number;
  epochs: number;
  /** 1-based step within the epoch. */
  step: number;
  steps: number;
  /** Images seen so far in this epoch. */
  samplesSeen: number;
  samples: number;
  /** Running mean loss and accuracy over this epoch so far. */
  loss: number;
  accuracy: number;
  /** Seconds since the epoch started. */
  seconds: number;
}

export interface TrainHistory {
  epochs: EpochStats[];
  seconds: number;
  /** With training.earlyStopping: the epoch whose weights the model ends with, and whether training stopped early. */
  earlyStopping?: EarlyStoppingOutcome;
}

export interface TrainArgs {
  model: tf.LayersModel;
  /** Stored examples (NHWC images or [N, F] rows), `labels.length` of them, in the source's element type. */
  examples: ExampleArray;
  labels: Int32Array;
  /** Shape of one example: [H, W, C] or [F]. */
  inputShape: number[];
  /** Element type of `examples` (default float32). */
  dtype?: ElementType;
  /** How stored values become model inputs; absent when `examples` already are model inputs. */
  preprocessing?: Preprocessing;
  numClasses: number;
  config: TrainingConfig;
  /** Decides the shuffle of every epoch (dropout masks come from the model's own seed). */
  seed: number;
  /** Teacher logits, n x numClasses, row i for image i: given together with `distillation`. */
  softLogits?: Float32Array;
  distillation?: DistillationConfig;
  /**
   * Held-out images, never trained on: evaluated after every epoch (EpochStats.valLoss and
   * valAccuracy) and read by training.earlyStopping, which needs them.
   */
  validation?: ValidationData;
  /** Names the stage in messages, e.g. `teacher`. */
  stage: string;
  onEpoch?: (e: EpochStats) => void;
  onBatch?: (b: BatchStats) => void;
  /**
   * How `model` was built, for `training.threads` > 1: every other thread builds its replica from
   * it (and then takes this model's weights).
   */
  spec?: { layers: LayerSpec[]; seed: number; role: string };
}

function checkArgs(a: TrainArgs): number {
  const where = `stage ${a.stage}`;
  const size = exampleSize(a.inputShape);
  if (!(size > 0) || a.examples.length % size !== 0) {
    throw new KdqError('E_INTERNAL', `${where}: ${a.examples.length} values are not a whole number of [${a.inputShape.join(', ')}] examples`);
  }
  const n = a.examples.length / size;
  if (n !== a.labels.length) {
    throw new KdqError('E_DATA', `${where}: ${n} images but ${a.labels.length} labels; the image and label files must match`);
  }
  if (n === 0) throw new KdqError('E_DATA', `${where}: no training images; check data.trainLimit and data.validationSplit`);
  if (a.config.augment && a.inputShape.length !== 3) {
    throw new KdqError('E_CONFIG', `${where}: training.augment moves pixels, but the examples are table rows [${a.inputShape.join(', ')}]; remove augment`);
  }
  const outShape = a.model.outputs[0].shape;
  if (outShape.length !== 2 || outShape[1] !== a.numClasses) {
    // kdq validate reports this at the last layer; the same words if a run ever gets here.
    throw new KdqError('E_CONFIG', `${where}: ${classesMessage(a.numClasses, outShape.slice(1))}`);
  }
  for (let i = 0; i < n; i++) {
    if (a.labels[i] >= a.numClasses) {
      throw new KdqError('E_DATA', `${where}: label ${a.labels[i]} of image ${i} is not below the ${a.numClasses} classes; check the label file`);
    }
  }
  const { batchSize, epochs, learningRate } = a.config;
  if (!Number.isInteger(batchSize) || batchSize < 1 || !Number.isInteger(epochs) || epochs < 0 || !(learningRate > 0)) {
    throw new KdqError(
      'E_CONFIG',
      `${where}: training needs a whole batchSize >= 1 (got ${batchSize}), whole epochs >= 0 (got ${epochs}) and learningRate > 0 (got ${learningRate})`,
    );
  }
  if ((a.softLogits === undefined) !== (a.distillation === undefined)) {
    throw new KdqError('E_INTERNAL', `${where}: softLogits and distillation must be given together (KD needs both)`);
  }
  if (a.softLogits && a.softLogits.length !== n * a.numClasses) {
    throw new KdqError(
      'E_INTERNAL',
      `${where}: ${a.softLogits.length} teacher logits for ${n} images of ${a.numClasses} classes; expected ${n * a.numClasses}`,
    );
  }
  if (a.validation) checkValidationData(a.validation, a.inputShape, a.numClasses, where);
  else if (a.config.earlyStopping) {
    throw new KdqError('E_CONFIG', `${where}: training.earlyStopping needs validation images; set data.validationSplit: 0.1 or remove earlyStopping`);
  }
  return n;
}

/** The training data as the batch helpers take it. */
function shardData(args: TrainArgs): ShardData {
  return {
    examples: args.examples,
    labels: args.labels,
    softLogits: args.softLogits,
    distillation: args.distillation,
    ...(args.config.labelSmoothing ? { labelSmoothing: args.config.labelSmoothing } : {}),
    inputShape: args.inputShape,
    dtype: args.dtype ?? 'float32',
    preprocessing: args.preprocessing ?? null,
    numClasses: args.numClasses,
    ...(args.config.augment ? { augment: { config: args.config.augment, seed: args.seed } } : {}),
  };
}

/** Steps between two turns of the event loop during an epoch (each costs microseconds). */
const YIELD_EVERY_STEPS = 64;

/** Trains `model` in place and returns per-epoch statistics. Throws E_DIVERGED on a NaN/infinite loss. */
export async function trainModel(args: TrainArgs): Promise<TrainHistory> {
  const n = checkArgs(args);
  const { model, config, seed, stage } = args;
  const steps = Math.ceil(n / config.batchSize);
  const stepper = await createStepper({
    model,
    vars: model.trainableWeights.map((v) => v.read() as tf.Variable),
    data: shardData(args),
    config,
    seed,
    n,
    distillation: args.distillation,
    stage,
    spec: args.spec,
  });
  const history: TrainHistory = { epochs: [], seconds: 0 };
  const stopper = config.earlyStopping ? new EarlyStopping(config.earlyStopping) : null;
  let stopped = false;
  const t0 = performance.now();
  try {
    for (let epoch = 0; epoch < config.epochs && !stopped; epoch++) {
      const learningRate = stepper.startEpoch(epoch);
      const order = epochOrder(n, seed, epoch, config.shuffle);
      const start = performance.now();
      let lossSum = 0;
      let hits = 0;
      for (let step = 0; step < steps; step++) {
        const from = step * config.batchSize;
        const to = Math.min(n, from + config.batchSize);
        const b = to - from;
        const done = stepper.step(order, from, to, epoch);
        const lossValue = done.lossSum / b;
        hits += done.hits;
        if (!Number.isFinite(lossValue)) {
          throw new KdqError(
            'E_DIVERGED',
            `stage ${stage}: loss became ${lossValue} at epoch ${epoch + 1}, step ${step + 1} of ${steps}; ` +
              `lower training.learningRate (now ${config.learningRate}${learningRate !== config.learningRate ? `, ${learningRate} in this epoch` : ''}) or check the input data for NaN`,
          );
        }
        lossSum += lossValue * b;
        args.onBatch?.({
          epoch: epoch + 1,
          epochs: config.epochs,
          step: step + 1,
          steps,
          samplesSeen: to,
          samples: n,
          loss: lossSum / to,
          accuracy: hits / to,
          seconds: (performance.now() - start) / 1000,
        });
        // Let messages in (a worker's share of the cores can change mid-stage) every few steps.
        if (step % YIELD_EVERY_STEPS === YIELD_EVERY_STEPS - 1) await new Promise<void>((resolve) => setImmediate(resolve));
      }
      const seconds = (performance.now() - start) / 1000;
      const stats: EpochStats = {
        epoch: epoch + 1,
        epochs: config.epochs,
        loss: lossSum / n,
        accuracy: hits / n,
        samples: n,
        samplesPerSecond: seconds > 0 ? n / seconds : 0,
        seconds,
        learningRate,
      };
      if (args.validation) {
        const v = validate(model, args.validation, args.numClasses);
        stats.valLoss = v.loss;
        stats.valAccuracy = v.accuracy;
        // Read on thread 0 only; data-parallel replicas end with it (stepper.close) when it stops.
        if (stopper) stopped = stopper.update(epoch + 1, v, model);
      }
      history.epochs.push(stats);
      args.onEpoch?.(stats);
      // Let timers and I/O run between epochs (the loop itself is synchronous tensor work).
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    const outcome = stopper?.finish(model, stopped);
    if (outcome) history.earlyStopping = outcome;
  } finally {
    await stepper.close();
  }
  history.seconds = (performance.now() - t0) / 1000;
  return history;
}
