/** prepareShard's soft targets: the `kl` term's teacher side, computed once per example. */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.ts';
import { softTargets } from '../../src/models/losses.ts';
import { batchTensorList, batchTensors, prepareShard, type ShardData } from '../../src/train/shard.ts';

beforeAll(async () => {
  await initBackend('wasm');
});

/** 5,000 examples: more than one block of the precomputation. */
function data(loss: 'kl' | 'mse' | null): ShardData {
  const n = 5000;
  const soft = new Float32Array(n * 10).map((_, i) => (((i * 7919) % 1000) / 1000 - 0.5) * 30);
  return {
    examples: new Float32Array(n * 4),
    labels: new Int32Array(n).map((_, i) => i % 10),
    inputShape: [4],
    dtype: 'float32',
    preprocessing: null,
    numClasses: 10,
    ...(loss ? { softLogits: soft, distillation: { temperature: 4, hardWeight: 0.5, softWeight: 0.5, loss, temperatureSquared: true, baseline: false } } : {}),
  };
}

describe('prepareShard', () => {
  it('computes the kl targets of every example, and a batch gathers the rows softTargets gives it', () => {
    const d = data('kl');
    const shard = prepareShard(d);
    expect(shard.targets!.logP).toHaveLength(50000);
    const order = Uint32Array.from({ length: 5000 }, (_, i) => (i * 1237) % 5000);
    const t = batchTensors(shard, order, 4090, 4122, 0);
    const direct = softTargets(t.ts!, 4);
    const bits = (x: tf.Tensor) => Array.from(new Int32Array((x.dataSync() as Float32Array).slice().buffer));
    expect(bits(t.targets!.logP)).toEqual(bits(direct.logP));
    expect(bits(t.targets!.p)).toEqual(bits(direct.p));
    tf.dispose([...batchTensorList(t), direct.logP, direct.p]);
  });

  it('computes none for mse or without a teacher', () => {
    expect(prepareShard(data('mse')).targets).toBeNull();
    expect(prepareShard(data(null)).targets).toBeNull();
    const before = tf.memory().numTensors;
    const t = batchTensors(prepareShard(data('mse')), Uint32Array.from([0, 1]), 0, 2, 0);
    expect(t.targets).toBeNull();
    tf.dispose(batchTensorList(t));
    expect(tf.memory().numTensors).toBe(before);
  });
});
