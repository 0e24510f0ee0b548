/** Learning-rate schedules: the rate per epoch, and that the optimizer really steps with it. */
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.ts';
import type { LayerSpec, TrainingConfig } from '../../src/config/types.ts';
import { buildModel } from '../../src/models/build.ts';
import { saveWeights } from '../../src/models/weights.ts';
import { learningRateOf } from '../../src/train/optimizers.ts';
import { learningRateAt } from '../../src/train/schedule.ts';
import { trainModel } from '../../src/train/train.ts';
import { UpdateRule } from '../../src/train/update-rule.ts';
import { trainingConfig } from './fixtures.ts';
import { mnistSubset } from './mnist-subset.ts';

beforeAll(async () => {
  await initBackend('wasm');
});

const SHAPE: [number, number, number] = [28, 28, 1];
const layers: LayerSpec[] = [
  { type: 'conv2d', filters: 4, kernelSize: 3, strides: 2, padding: 'valid', activation: 'relu', useBias: true },
  { type: 'flatten' },
  { type: 'dense', units: 10, activation: 'linear', useBias: true },
];
const data = mnistSubset(64);
const rates = (c: Pick<TrainingConfig, 'learningRate' | 'epochs' | 'schedule'>) => Array.from({ length: c.epochs }, (_, e) => learningRateAt(c, e));

describe('learningRateAt', () => {
  it('constant without a schedule', () => {
    expect(rates({ learningRate: 0.01, epochs: 3 })).toEqual([0.01, 0.01, 0.01]);
  });

  it('step: multiplied by factor every `every` epochs', () => {
    expect(rates({ learningRate: 0.1, epochs: 7, schedule: { type: 'step', every: 3, factor: 0.5 } })).toEqual([0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025]);
  });

  it('cosine: linear warm-up to the full rate, then a half cosine towards minLearningRate', () => {
    const r = rates({ learningRate: 0.1, epochs: 6, schedule: { type: 'cosine', warmupEpochs: 2, minLearningRate: 0 } });
    expect(r[0]).toBeCloseTo(0.05, 15);
    expect(r[1]).toBeCloseTo(0.1, 15);
    // 4 decay epochs: (1 + cos(pi k / 4)) / 2 for k = 0..3.
    expect(r.slice(2)).toEqual([0, 1, 2, 3].map((k) => (0.1 * (1 + Math.cos((Math.PI * k) / 4))) / 2));
    expect(r[5]).toBeCloseTo((0.1 * (1 - Math.SQRT1_2)) / 2, 15);
    const floor = rates({ learningRate: 0.1, epochs: 3, schedule: { type: 'cosine', warmupEpochs: 0, minLearningRate: 0.02 } });
    expect(floor[0]).toBe(0.1);
    expect(floor[2]).toBeCloseTo(0.02 + 0.08 * 0.25, 15);
    expect(Math.min(...floor)).toBeGreaterThan(0.02);
  });
});

describe('a schedule in training', () => {
  it('sets the optimizer of every optimizer kind to the epoch rate, keeping its state', () => {
    for (const optimizer of ['adam', 'sgd', 'rmsprop'] as const) {
      const rule = new UpdateRule(
        {
          ...trainingConfig({ optimizer, momentum: optimizer === 'sgd' ? 0.9 : 0, epochs: 4, learningRate: 0.1 }),
          schedule: { type: 'step', every: 1, factor: 0.5 },
        },
        [],
      );
      expect([0, 1, 2, 3].map((e) => [rule.startEpoch(e), learningRateOf(rule.optimizer)])).toEqual([
        [0.1, 0.1],
        [0.05, 0.05],
        [0.025, 0.025],
        [0.0125, 0.0125],
      ]);
      rule.dispose();
    }
  });

  it('steps with the scheduled rate: plain SGD over 3 epochs equals 3 one-epoch runs at those rates, bit for bit', async () => {
    // One step per epoch (batch = all 64 images, no shuffle) and SGD without momentum keeps no state,
    // so the only thing that can differ is the rate each step used.
    const base = { ...data, inputShape: SHAPE, numClasses: 10, seed: 3, stage: 's' };
    const sgd = { optimizer: 'sgd' as const, momentum: 0, batchSize: 64, shuffle: false };
    const scheduled = buildModel(layers, SHAPE, 3, { role: 'student' });
    const h = await trainModel({
      ...base,
      model: scheduled,
      config: { ...trainingConfig({ ...sgd, epochs: 3, learningRate: 0.2 }), schedule: { type: 'step', every: 1, factor: 0.5 } },
    });
    expect(h.epochs.map((e) => e.learningRate)).toEqual([0.2, 0.1, 0.05]);
    const manual = buildModel(layers, SHAPE, 3, { role: 'student' });
    for (const lr of [0.2, 0.1, 0.05]) await trainModel({ ...base, model: manual, config: trainingConfig({ ...sgd, epochs: 1, learningRate: lr }) });
    expect(Buffer.from(saveWeights(scheduled).data).equals(Buffer.from(saveWeights(manual).data))).toBe(true);
    // ...and differs from training at the constant rate.
    const constant = buildModel(layers, SHAPE, 3, { role: 'student' });
    await trainModel({ ...base, model: constant, config: trainingConfig({ ...sgd, epochs: 3, learningRate: 0.2 }) });
    expect(Buffer.from(saveWeights(scheduled).data).equals(Buffer.from(saveWeights(constant).data))).toBe(false);
    [scheduled, manual, constant].forEach((m) => m.dispose());
  });

  it('records the rate of every epoch in the history, cosine with warm-up under adam', async () => {
    const model = buildModel(layers, SHAPE, 4, { role: 'student' });
    const config = { ...trainingConfig({ epochs: 4, learningRate: 0.004 }), schedule: { type: 'cosine' as const, warmupEpochs: 1, minLearningRate: 0 } };
    const h = await trainModel({ ...data, model, inputShape: SHAPE, numClasses: 10, config, seed: 4, stage: 's' });
    expect(h.epochs.map((e) => e.learningRate)).toEqual(rates(config));
    model.dispose();
  });
});
