import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.ts';
import type { DistillationConfig, LayerSpec } from '../../src/config/types.ts';
import { KdqError } from '../../src/errors.ts';
import { buildModel } from '../../src/models/build.ts';
import { saveWeights } from '../../src/models/weights.ts';
import { OPTIMIZERS } from '../../src/names.ts';
import { createOptimizer, OPTIMIZER_REGISTRY } from '../../src/train/optimizers.ts';
import { accuracy, agreement, predictLogits, trainModel, type BatchStats, type TrainArgs } from '../../src/train/train.ts';
import { INFERENCE_BATCH } from '../../src/train/predict.ts';
import { floatInputs } from '../../src/data/model-inputs.ts';
import { mnistSubset } from './mnist-subset.ts';
import { rejection, trainingConfig } from './fixtures.ts';

beforeAll(async () => {
  await initBackend('wasm');
});

const SHAPE: [number, number, number] = [28, 28, 1];
const small: LayerSpec[] = [
  { type: 'conv2d', filters: 4, kernelSize: 3, strides: 2, padding: 'valid', activation: 'relu', useBias: true },
  { type: 'dropout', rate: 0.25 },
  { type: 'flatten' },
  { type: 'dense', units: 10, activation: 'softmax', useBias: true },
];
const cfg = trainingConfig;
const data = mnistSubset(200);

async function run(seed: number, over: Partial<TrainArgs> = {}, layers = small) {
  const model = buildModel(layers, SHAPE, seed, { role: 'student' });
  const history = await trainModel({ model, ...data, inputShape: SHAPE, numClasses: 10, config: cfg(), seed, stage: 'student', ...over });
  const saved = saveWeights(model);
  return { model, history, saved };
}

function errorOf(p: () => unknown): KdqError {
  try {
    p();
  } catch (e) {
    return e as KdqError;
  }
  throw new Error('expected an error');
}

describe('trainModel', () => {
  it('trains to bit-identical weights and metrics for the same seed, and to others for another seed', async () => {
    const a = await run(1);
    const b = await run(1);
    const c = await run(2);
    expect(Buffer.from(a.saved.data).equals(Buffer.from(b.saved.data))).toBe(true);
    expect(a.history.epochs.map((e) => [e.loss, e.accuracy])).toEqual(b.history.epochs.map((e) => [e.loss, e.accuracy]));
    expect(Buffer.from(a.saved.data).equals(Buffer.from(c.saved.data))).toBe(false);
    expect(a.history.epochs[1].loss).not.toBe(c.history.epochs[1].loss);
    // Training changed the weights at all.
    const init = saveWeights(buildModel(small, SHAPE, 1, { role: 'student' }));
    expect(Buffer.from(init.data).equals(Buffer.from(a.saved.data))).toBe(false);
    [a, b, c].forEach((r) => r.model.dispose());
  });

  it('updates batch-norm moving statistics while training', async () => {
    const bn: LayerSpec[] = [
      { type: 'conv2d', filters: 2, kernelSize: 3, strides: 2, padding: 'valid', activation: 'linear', useBias: true },
      { type: 'batchNormalization', momentum: 0.9, epsilon: 0.001 },
      { type: 'activation', activation: 'relu' },
      { type: 'flatten' },
      { type: 'dense', units: 10, activation: 'linear', useBias: true },
    ];
    const { model, history } = await run(10, { config: cfg({ epochs: 1 }) }, bn);
    const movingMean = model.weights
      .find((w) => w.name.includes('moving_mean'))!
      .read()
      .dataSync();
    expect(Array.from(movingMean).some((v) => v !== 0)).toBe(true);
    expect(Number.isFinite(history.epochs[0].loss)).toBe(true);
    model.dispose();
  });

  it('shuffles with the run seed only: the same model and data with another shuffle seed trains differently', async () => {
    const model1 = buildModel(small, SHAPE, 9, { role: 'student' });
    const model2 = buildModel(small, SHAPE, 9, { role: 'student' });
    const common = { ...data, inputShape: SHAPE, numClasses: 10, config: cfg({ epochs: 1 }), stage: 's' };
    await trainModel({ model: model1, ...common, seed: 100 });
    await trainModel({ model: model2, ...common, seed: 101 });
    expect(Buffer.from(saveWeights(model1).data).equals(Buffer.from(saveWeights(model2).data))).toBe(false);
    [model1, model2].forEach((m) => m.dispose());
  });

  it('augments bit-identically run to run, differently from no augmentation; bytes and their float copy train alike', async () => {
    const augment = { crop: 2, flip: true };
    const a = await run(5, { config: cfg({ augment }) });
    const b = await run(5, { config: cfg({ augment }) });
    const plain = await run(5);
    expect(Buffer.from(a.saved.data).equals(Buffer.from(b.saved.data))).toBe(true);
    expect(Buffer.from(a.saved.data).equals(Buffer.from(plain.saved.data))).toBe(false);
    // The same images stored as bytes with the 1/255 preprocessing: the very same weights.
    const bytes = Uint8Array.from(data.examples, (v) => Math.round(v * 255));
    const prep = { scale: 1 / 255, mean: null, std: null, normalize: 'none' as const };
    const fromBytes = await run(5, { examples: bytes, dtype: 'uint8', preprocessing: prep, config: cfg({ augment }) });
    expect(Buffer.from(fromBytes.saved.data).equals(Buffer.from(a.saved.data))).toBe(true);
    // Table rows cannot be augmented.
    const rows = buildModel([{ type: 'dense', units: 10, activation: 'linear', useBias: true }], [784], 1);
    const err = await rejection(trainModel({ model: rows, ...data, inputShape: [784], numClasses: 10, config: cfg({ augment }), seed: 1, stage: 's' }));
    expect([err.code, err.message]).toEqual(['E_CONFIG', 'stage s: training.augment moves pixels, but the examples are table rows [784]; remove augment']);
    [a, b, plain, fromBytes].forEach((r) => r.model.dispose());
    rows.dispose();
  });

  it('leaks no tensors: the count is the same after every epoch, and back to the start after training', async () => {
    const model = buildModel(small, SHAPE, 3);
    const before = tf.memory().numTensors;
    const counts: number[] = [];
    const history = await trainModel({
      model,
      ...data,
      inputShape: SHAPE,
      numClasses: 10,
      config: cfg({ epochs: 3 }),
      seed: 3,
      stage: 's',
      onEpoch: () => counts.push(tf.memory().numTensors),
    });
    expect(history.epochs).toHaveLength(3);
    expect(counts).toEqual([counts[0], counts[0], counts[0]]);
    expect(tf.memory().numTensors).toBe(before); // optimizer state disposed too
    model.dispose();
  });

  it('includes the last partial batch and reports running statistics', async () => {
    const model = buildModel(small, SHAPE, 4);
    const batches: BatchStats[] = [];
    const n = 50;
    const history = await trainModel({
      model,
      examples: data.examples.subarray(0, n * 784),
      labels: data.labels.subarray(0, n),
      inputShape: SHAPE,
      numClasses: 10,
      config: cfg({ epochs: 1, batchSize: 16 }),
      seed: 4,
      stage: 's',
      onBatch: (b) => batches.push(b),
    });
    expect(batches.map((b) => b.samplesSeen)).toEqual([16, 32, 48, 50]);
    expect(batches.every((b) => b.steps === 4 && b.samples === n)).toBe(true);
    expect(batches[3].loss).toBe(history.epochs[0].loss);
    expect(batches[3].accuracy).toBe(history.epochs[0].accuracy);
    expect(history.epochs[0].samples).toBe(n);
    expect(history.epochs[0].samplesPerSecond).toBeGreaterThan(0);
    model.dispose();
  });

  it('stops with E_DIVERGED naming stage, epoch and step when the loss explodes (learning rate 1e6)', async () => {
    // CE on logits has bounded gradients (and a huge step merely kills every relu), so blow up an
    // mse soft term on a linear model, whose gradient grows with the logits.
    const before = tf.memory().numTensors;
    const linear: LayerSpec[] = [{ type: 'flatten' }, { type: 'dense', units: 10, activation: 'linear', useBias: true }];
    const model = buildModel(linear, SHAPE, 5);
    const kd: DistillationConfig = { temperature: 1, hardWeight: 0, softWeight: 1, loss: 'mse', temperatureSquared: false, baseline: false };
    const err = await rejection(
      trainModel({
        model,
        ...data,
        softLogits: new Float32Array(200 * 10),
        distillation: kd,
        inputShape: SHAPE,
        numClasses: 10,
        config: cfg({ optimizer: 'sgd', learningRate: 1e6, epochs: 5 }),
        seed: 5,
        stage: 'teacher',
      }),
    );
    expect(err).toBeInstanceOf(KdqError);
    expect(err.code).toBe('E_DIVERGED');
    expect(err.message).toMatch(/^stage teacher: loss became (NaN|Infinity) at epoch 1, step \d of 7; lower training\.learningRate \(now 1000000\)/);
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('points at the exact step of an injected NaN', async () => {
    const images = data.examples.slice(0, 100 * 784);
    images[70 * 784 + 300] = NaN; // image 70: third batch of 32 when not shuffled
    const model = buildModel(small, SHAPE, 6);
    const err = await rejection(
      trainModel({
        model,
        examples: images,
        labels: data.labels.subarray(0, 100),
        inputShape: SHAPE,
        numClasses: 10,
        config: cfg({ shuffle: false }),
        seed: 6,
        stage: 'student',
      }),
    );
    expect(err.code).toBe('E_DIVERGED');
    expect(err.message).toContain('stage student: loss became NaN at epoch 1, step 3 of 4');
    model.dispose();
  });

  it('KD with softWeight 0 trains exactly like plain cross-entropy', async () => {
    const teacherLogits = new Float32Array(200 * 10).map((_, i) => Math.sin(i) * 5);
    const kd: DistillationConfig = { temperature: 4, hardWeight: 1, softWeight: 0, loss: 'kl', temperatureSquared: true, baseline: false };
    const plain = await run(7);
    const distilled = await run(7, { softLogits: teacherLogits, distillation: kd });
    expect(Buffer.from(distilled.saved.data).equals(Buffer.from(plain.saved.data))).toBe(true);
    const soft = await run(7, { softLogits: teacherLogits, distillation: { ...kd, softWeight: 0.5 } });
    expect(Buffer.from(soft.saved.data).equals(Buffer.from(plain.saved.data))).toBe(false);
    [plain, distilled, soft].forEach((r) => r.model.dispose());
  });

  it('KD pulls the student towards the teacher: agreement with the teacher rises', async () => {
    const n = 200;
    // A "teacher" that predicts (label + 1) mod 10: only the soft term can teach that.
    const teacher = new Float32Array(n * 10);
    for (let i = 0; i < n; i++) teacher[i * 10 + ((data.labels[i] + 1) % 10)] = 8;
    const kd: DistillationConfig = { temperature: 2, hardWeight: 0, softWeight: 1, loss: 'kl', temperatureSquared: true, baseline: false };
    const student = await run(8, { softLogits: teacher, distillation: kd, config: cfg({ epochs: 3 }) });
    const logits = predictLogits(student.model, floatInputs(data.examples, SHAPE));
    expect(agreement(logits, teacher, 10)).toBeGreaterThan(0.5);
    expect(accuracy(logits, data.labels, 10)).toBeLessThan(0.3);
    student.model.dispose();
  });

  it('gives each example the same logits, bit for bit, whatever batch it is predicted in', () => {
    const layers: LayerSpec[] = [
      { type: 'conv2d', filters: 8, kernelSize: 3, strides: 1, padding: 'valid', activation: 'relu', useBias: true },
      { type: 'maxPooling2d', poolSize: 2, strides: 2, padding: 'valid' },
      { type: 'conv2d', filters: 8, kernelSize: 3, strides: 1, padding: 'same', activation: 'relu', useBias: true },
      { type: 'flatten' },
      { type: 'dense', units: 10, activation: 'linear', useBias: true },
    ];
    const model = buildModel(layers, SHAPE, 3);
    const inputs = floatInputs(data.examples, SHAPE);
    const bytes = (batch: number) => Buffer.from(predictLogits(model, inputs, batch).buffer);
    const reference = bytes(INFERENCE_BATCH);
    for (const batch of [1, 7, 64, 200]) expect(bytes(batch).equals(reference)).toBe(true);
    model.dispose();
  });

  it('rejects inputs that do not fit, quoting them', async () => {
    const model = buildModel(small, SHAPE, 1);
    const base = { model, ...data, inputShape: SHAPE, numClasses: 10, config: cfg(), seed: 1, stage: 'teacher' };
    expect((await rejection(trainModel({ ...base, numClasses: 5 }))).message).toBe(
      'stage teacher: the network must end in 5 logits, one per class of the data (shape [5]), but outputs [10]; end with { type: dense, units: 5 }',
    );
    const labels = data.labels.slice();
    labels[17] = 12;
    const badLabel = await rejection(trainModel({ ...base, labels }));
    expect([badLabel.code, badLabel.message]).toEqual(['E_DATA', 'stage teacher: label 12 of image 17 is not below the 10 classes; check the label file']);
    expect((await rejection(trainModel({ ...base, labels: data.labels.subarray(0, 10) }))).code).toBe('E_DATA');
    expect((await rejection(trainModel({ ...base, softLogits: new Float32Array(2000) }))).code).toBe('E_INTERNAL');
    expect((await rejection(trainModel({ ...base, config: cfg({ batchSize: 0 }) }))).code).toBe('E_CONFIG');
    model.dispose();
  });
});

describe('optimizers', () => {
  it('has one factory per name in OPTIMIZERS; sgd uses momentum only when asked', () => {
    expect(Object.keys(OPTIMIZER_REGISTRY).sort()).toEqual([...OPTIMIZERS].sort());
    const names = (o: tf.Optimizer) => o.getClassName();
    const opts = [
      createOptimizer({ optimizer: 'sgd', learningRate: 0.1, momentum: 0 }),
      createOptimizer({ optimizer: 'sgd', learningRate: 0.1, momentum: 0.9 }),
      createOptimizer({ optimizer: 'adam', learningRate: 0.1, momentum: 0 }),
      createOptimizer({ optimizer: 'rmsprop', learningRate: 0.1, momentum: 0 }),
    ];
    expect(opts.map(names)).toEqual(['SGD', 'Momentum', 'Adam', 'RMSProp']);
    opts.forEach((o) => o.dispose());
  });

  for (const optimizer of OPTIMIZERS) {
    it(`${optimizer} lowers the training loss`, async () => {
      const model = buildModel(small, SHAPE, 12);
      const lr = optimizer === 'sgd' ? 0.1 : 0.003;
      const h = await trainModel({
        model,
        ...data,
        inputShape: SHAPE,
        numClasses: 10,
        config: cfg({ optimizer, learningRate: lr, momentum: 0.9, epochs: 3 }),
        seed: 12,
        stage: 's',
      });
      expect(h.epochs[2].loss).toBeLessThan(h.epochs[0].loss * 0.8);
      model.dispose();
    });
  }
});

describe('predictLogits', () => {
  it('equals one forward pass over all images, for a batch size that does not divide n, without leaks', () => {
    const model = buildModel(small, SHAPE, 13);
    const n = 70;
    const images = data.examples.subarray(0, n * 784);
    const before = tf.memory().numTensors;
    const got = predictLogits(model, floatInputs(images, SHAPE), 32);
    expect(tf.memory().numTensors).toBe(before);
    const want = tf.tidy(() => (model.apply(tf.tensor4d(images, [n, 28, 28, 1])) as tf.Tensor).dataSync());
    expect(got).toHaveLength(n * 10);
    got.forEach((v, i) => expect(Math.abs(v - want[i])).toBeLessThan(1e-5));
    expect(errorOf(() => floatInputs(new Float32Array(100), SHAPE)).message).toMatch(/100 values are not a whole number of \[28, 28, 1\] examples/);
    model.dispose();
  });
});

describe('teacher on MNIST', () => {
  it('learns: 2,000 training images, one epoch, test accuracy far above chance', async () => {
    const train = mnistSubset(2000);
    const test = mnistSubset(500, 't10k');
    const teacher: LayerSpec[] = [
      { type: 'conv2d', filters: 8, kernelSize: 3, strides: 2, padding: 'valid', activation: 'relu', useBias: true },
      { type: 'flatten' },
      { type: 'dense', units: 10, activation: 'softmax', useBias: true },
    ];
    const model = buildModel(teacher, SHAPE, 1, { role: 'teacher' });
    const h = await trainModel({ model, ...train, inputShape: SHAPE, numClasses: 10, config: cfg({ epochs: 1 }), seed: 1, stage: 'teacher' });
    const acc = accuracy(predictLogits(model, floatInputs(test.examples, SHAPE)), test.labels, 10);
    expect(h.epochs[0].accuracy).toBeGreaterThan(0.5);
    expect(acc).toBeGreaterThan(0.75); // chance is 0.1
    model.dispose();
  });
});
