/**
 * Validation every epoch and early stopping: the held-out images never reach training, training
 * stops `patience` epochs after the best one, and ends with the best epoch's weights, bit for bit,
 * on one thread and on two.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.ts';
import type { EarlyStoppingConfig, LayerSpec, TrainingConfig } from '../../src/config/types.ts';
import { buildModel } from '../../src/models/build.ts';
import { saveWeights } from '../../src/models/weights.ts';
import { EarlyStopping } from '../../src/train/early-stopping.ts';
import { trainModel, type EpochStats, type TrainArgs } from '../../src/train/train.ts';
import { lossAndAccuracy } from '../../src/train/validation.ts';
import { rejection, trainingConfig } from './fixtures.ts';
import { floatInputs } from '../../src/data/model-inputs.ts';
import { mnistSubset } from './mnist-subset.ts';

beforeAll(async () => {
  await initBackend('wasm');
});

const SHAPE: [number, number, number] = [28, 28, 1];
const layers: LayerSpec[] = [
  { type: 'conv2d', filters: 4, kernelSize: 3, strides: 2, padding: 'valid', activation: 'relu', useBias: true },
  { type: 'dropout', rate: 0.2 },
  { type: 'flatten' },
  { type: 'dense', units: 10, activation: 'linear', useBias: true },
];
const train = mnistSubset(200);
// The next 100 training-file images: held out, as data.validationSplit would hold them.
const held = mnistSubset(100, 'train', 200);
const validation = { inputs: floatInputs(held.examples, SHAPE), labels: held.labels };
const stopping: EarlyStoppingConfig = { monitor: 'val_loss', patience: 2, minDelta: 0 };

async function run(over: Partial<TrainingConfig>, args: Partial<TrainArgs> = {}) {
  const model = buildModel(layers, SHAPE, 3, { role: 'student' });
  try {
    const history = await trainModel({
      model,
      ...train,
      inputShape: SHAPE,
      numClasses: 10,
      seed: 3,
      stage: 'student',
      config: trainingConfig({ learningRate: 0.01, epochs: 12, ...over }),
      spec: { layers, seed: 3, role: 'student' },
      ...args,
    });
    return { history, weights: Buffer.from(saveWeights(model).data) };
  } finally {
    model.dispose();
  }
}

describe('validation', () => {
  it('loss is the mean cross-entropy of the true labels, accuracy the argmax hits', () => {
    const logits = Float32Array.from([2, 0, 0, 0, 1, 0]);
    const r = lossAndAccuracy(logits, Uint8Array.from([0, 0]), 3);
    const ce = (row: number[], y: number) => Math.log(row.reduce((a, x) => a + Math.exp(x), 0)) - row[y];
    expect(r.loss).toBeCloseTo((ce([2, 0, 0], 0) + ce([0, 1, 0], 0)) / 2, 12);
    expect(r.accuracy).toBe(0.5);
  });

  it('is reported every epoch, and the held-out images never reach training: NaN images there change no bit of the weights', async () => {
    const plain = await run({ epochs: 3 });
    const seen = await run({ epochs: 3 }, { validation });
    expect(seen.weights.equals(plain.weights)).toBe(true);
    expect(seen.history.epochs.map((e) => e.loss)).toEqual(plain.history.epochs.map((e) => e.loss));
    expect(seen.history.epochs.every((e) => e.valLoss! > 0 && e.valAccuracy! > 0.3)).toBe(true);
    expect(plain.history.epochs.every((e) => e.valLoss === undefined)).toBe(true);
    // Had one marker image reached a batch, its NaN loss would have stopped training with E_DIVERGED.
    const marked = {
      inputs: floatInputs(
        held.examples.map(() => NaN),
        SHAPE,
      ),
      labels: held.labels,
    };
    const poisoned = await run({ epochs: 3 }, { validation: marked });
    expect(poisoned.weights.equals(plain.weights)).toBe(true);
    expect(poisoned.history.epochs.map((e) => e.valLoss)).toEqual([NaN, NaN, NaN]);
    expect(poisoned.history.epochs[0].samples).toBe(200);
  });

  it('early stopping without validation images is a config error', async () => {
    const err = await rejection(run({ earlyStopping: stopping }));
    expect([err.code, err.message]).toEqual([
      'E_CONFIG',
      'stage student: training.earlyStopping needs validation images; set data.validationSplit: 0.1 or remove earlyStopping',
    ]);
  });
});

describe('EarlyStopping', () => {
  const model = () => buildModel([{ type: 'flatten' }, { type: 'dense', units: 2, activation: 'linear', useBias: true }], [1, 1, 1], 1);
  const feed = (cfg: EarlyStoppingConfig, values: number[]) => {
    const m = model();
    const s = new EarlyStopping(cfg);
    const stops = values.map((v, i) => s.update(i + 1, { loss: v, accuracy: v }, m));
    const outcome = s.finish(m, stops.includes(true));
    m.dispose();
    return { stops, outcome };
  };

  it('val_accuracy: an improvement must beat the best by more than minDelta; stops after patience epochs without one', () => {
    const { stops, outcome } = feed({ monitor: 'val_accuracy', patience: 2, minDelta: 0.01 }, [0.5, 0.6, 0.605, 0.59]);
    expect(stops).toEqual([false, false, false, true]);
    expect(outcome).toEqual({ monitor: 'val_accuracy', bestEpoch: 2, best: 0.6, stopped: true });
  });

  it('val_loss: lower is better, and the wait starts again after an improvement', () => {
    const { stops, outcome } = feed({ monitor: 'val_loss', patience: 2, minDelta: 0 }, [1, 0.9, 0.95, 0.8, 0.85, 0.81]);
    expect(stops).toEqual([false, false, false, false, false, true]);
    expect(outcome?.bestEpoch).toBe(4);
  });
});

describe('trainModel with earlyStopping', () => {
  for (const threads of [1, 2]) {
    it(`threads ${threads}: stops patience epochs after the best epoch and ends with its weights, bit for bit`, async () => {
      const t = threads > 1 ? { threads } : {};
      const stopped = await run({ ...t, earlyStopping: stopping }, { validation });
      const h = stopped.history;
      const best = h.earlyStopping!.bestEpoch;
      expect(h.earlyStopping).toMatchObject({ monitor: 'val_loss', stopped: true });
      expect(h.epochs).toHaveLength(best + stopping.patience);
      const bestLoss = h.epochs[best - 1].valLoss!;
      expect(h.earlyStopping!.best).toBe(bestLoss);
      expect(h.epochs.every((e: EpochStats) => e.valLoss! >= bestLoss)).toBe(true);
      // The same training for exactly `best` epochs (no validation at all) ends with the same bits...
      const upToBest = await run({ ...t, epochs: best });
      expect(stopped.weights.equals(upToBest.weights)).toBe(true);
      // ...and the last epoch trained had other weights: they were put back.
      const upToLast = await run({ ...t, epochs: h.epochs.length });
      expect(stopped.weights.equals(upToLast.weights)).toBe(false);
      // Deterministic run to run.
      const again = await run({ ...t, earlyStopping: stopping }, { validation });
      expect(again.weights.equals(stopped.weights)).toBe(true);
      expect(again.history.epochs.map((e) => e.valLoss)).toEqual(h.epochs.map((e) => e.valLoss));
    });
  }

  it('keeps the best epoch when training runs out of epochs first', async () => {
    const { history } = await run({ epochs: 3, earlyStopping: { ...stopping, patience: 5 } }, { validation });
    expect(history.epochs).toHaveLength(3);
    expect(history.earlyStopping).toMatchObject({ stopped: false });
  });
});
