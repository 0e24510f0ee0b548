/**
 * Entry point of a data-parallel training thread (see data-parallel.ts): sets up the same
 * backend as thread 0, builds the same model, takes thread 0's initial weights, then runs the
 * training loop in lock-step with the other replicas until the last step.
 */
import { workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../backend/index.ts';
import { KdqError } from '../errors.ts';
import { buildModel } from '../models/build.ts';
import { SeededDropout } from '../models/seeded-dropout.ts';
import { Exchange, ReplicaStepper, type ReplicaInit, type ReplicaMessage } from './data-parallel.ts';

const init = workerData as ReplicaInit;
// Two parities of one float32 block per replica.
const exchange = new Exchange(init.replicas, init.exchange.grads.byteLength / 8 / init.replicas, init.exchange);

function send(m: ReplicaMessage): void {
  init.port.postMessage(m);
}

try {
  await initBackend(init.backend);
  const model = buildModel(init.layers, init.data.inputShape, init.modelSeed, { role: init.role });
  try {
    const own = model.getWeights().reduce((a, w) => a + w.size, 0);
    const trainable = model.trainableWeights.reduce((a, w) => a + w.read().size, 0);
    if (own !== init.weights.length || trainable !== exchange.size) {
      throw new KdqError(
        'E_INTERNAL',
        `training thread ${init.r}: its model has ${own} weights (${trainable} trainable) but thread 0's has ${init.weights.length} (${exchange.size}); the layer specs differ`,
      );
    }
    let offset = 0;
    model.setWeights(
      model.getWeights().map((w) => {
        const t = tf.tensor(init.weights.subarray(offset, offset + w.size), w.shape, 'float32');
        offset += w.size;
        return t;
      }),
    );
    for (const layer of model.layers) if (layer instanceof SeededDropout) layer.replica = init.r;
    const vars = model.trainableWeights.map((v) => v.read() as tf.Variable);
    const stepper = new ReplicaStepper(
      model,
      vars,
      {
        replicas: init.replicas,
        n: init.n,
        config: init.config,
        seed: init.seed,
        data: init.data,
      },
      exchange,
      init.r,
      () => {
        // Another replica failed: thread 0 reports it; this one just stops.
        throw new KdqError('E_INTERNAL', 'another training thread failed');
      },
    );
    send({ ready: true });
    try {
      stepper.runAll();
    } finally {
      stepper.dispose();
    }
  } finally {
    model.dispose();
  }
} catch (e) {
  const stopped = Atomics.load(exchange.ctrl, exchange.abortCell) !== 0 || Atomics.load(exchange.ctrl, exchange.errorCell) !== 0;
  if (!stopped) {
    const err = e instanceof KdqError ? e : new KdqError('E_INTERNAL', `training thread ${init.r}: ${(e as Error)?.message ?? String(e)}`);
    send({ error: err.message, code: err.code });
    exchange.fail(init.r);
  }
}
