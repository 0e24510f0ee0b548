/**
 * Label smoothing (`training.labelSmoothing`): the hard cross-entropy against the closed form
 * with targets (1 - eps) y + eps / K, the KD loss smoothing its hard term only, and the trainer
 * training on the smoothed loss.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.ts';
import type { DistillationConfig, LayerSpec } from '../../src/config/types.ts';
import { buildModel } from '../../src/models/build.ts';
import { crossEntropyFromLogits, distillationLoss } from '../../src/models/losses.ts';
import { trainModel, type BatchStats } from '../../src/train/train.ts';
import { trainingConfig } from '../train/fixtures.ts';
import { mnistSubset } from '../train/mnist-subset.ts';

beforeAll(async () => {
  await initBackend('wasm');
});

/** Closed form in float64: -1/N sum_i [(1 - eps) log p_i,y_i + eps/K sum_k log p_ik]. */
function smoothedCe64(logits: ArrayLike<number>, labels: ArrayLike<number>, k: number, eps: number): number {
  const n = labels.length;
  let total = 0;
  for (let i = 0; i < n; i++) {
    const row = Array.from({ length: k }, (_, j) => logits[i * k + j]);
    const m = Math.max(...row);
    const lse = m + Math.log(row.reduce((a, x) => a + Math.exp(x - m), 0));
    const logP = row.map((x) => x - lse);
    total += (1 - eps) * logP[labels[i]] + (eps / k) * logP.reduce((a, b) => a + b, 0);
  }
  return -total / n;
}

const oneHot = (labels: number[], k: number) => tf.oneHot(tf.tensor1d(labels, 'int32'), k).toFloat() as tf.Tensor2D;

describe('label smoothing', () => {
  const k = 5;
  const labels = [0, 3, 4, 1];
  const logits = Float32Array.from({ length: labels.length * k }, (_, i) => Math.sin(i * 1.7) * 4);

  it('cross-entropy with smoothing eps equals the closed form, and 0 is plain cross-entropy', () => {
    const s = tf.tensor2d(logits, [labels.length, k]);
    const y = oneHot(labels, k);
    for (const eps of [0, 0.1, 0.3]) {
      const v = crossEntropyFromLogits(y, s, eps);
      expect(v.dataSync()[0]).toBeCloseTo(smoothedCe64(logits, labels, k, eps), 5);
      v.dispose();
    }
    // Smoothing moves the loss: the test would fail if eps were ignored.
    expect(smoothedCe64(logits, labels, k, 0.1) - smoothedCe64(logits, labels, k, 0)).toBeGreaterThan(0.01);
    tf.dispose([s, y]);
  });

  it('in the KD loss smooths the hard term only, never the teacher targets', () => {
    const s = tf.tensor2d(logits, [labels.length, k]);
    const t = tf.tensor2d(
      logits.map((x) => -x),
      [labels.length, k],
    );
    const y = oneHot(labels, k);
    const cfg = (hardWeight: number, softWeight: number): Omit<DistillationConfig, 'baseline'> => ({
      temperature: 3,
      hardWeight,
      softWeight,
      loss: 'kl',
      temperatureSquared: true,
    });
    const kd = (c: Omit<DistillationConfig, 'baseline'>, eps: number) => {
      const v = distillationLoss({ studentLogits: s, teacherLogits: t, oneHot: y, config: c, labelSmoothing: eps });
      const out = v.dataSync()[0];
      v.dispose();
      return out;
    };
    expect(kd(cfg(1, 0), 0.2)).toBeCloseTo(smoothedCe64(logits, labels, k, 0.2), 5);
    expect(kd(cfg(0, 1), 0.2)).toBe(kd(cfg(0, 1), 0));
    tf.dispose([s, t, y]);
  });

  it('is what the trainer minimises: the first step reports the smoothed loss of the untrained model', async () => {
    const SHAPE: [number, number, number] = [28, 28, 1];
    const layers: LayerSpec[] = [{ type: 'flatten' }, { type: 'dense', units: 10, activation: 'linear', useBias: true }];
    const data = mnistSubset(32);
    const model = buildModel(layers, SHAPE, 9, { role: 'teacher' });
    const before = tf.tidy(() => (model.predict(tf.tensor4d(data.examples, [32, 28, 28, 1])) as tf.Tensor).dataSync() as Float32Array);
    const first: BatchStats[] = [];
    await trainModel({
      model,
      ...data,
      inputShape: SHAPE,
      numClasses: 10,
      seed: 9,
      stage: 'teacher',
      config: { ...trainingConfig({ epochs: 1, batchSize: 32, shuffle: false }), labelSmoothing: 0.2 },
      onBatch: (b) => first.push(b),
    });
    expect(first[0].loss).toBeCloseTo(smoothedCe64(before, data.labels, 10, 0.2), 5);
    expect(Math.abs(first[0].loss - smoothedCe64(before, data.labels, 10, 0))).toBeGreaterThan(0.01);
    model.dispose();
  });
});
