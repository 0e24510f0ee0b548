/**
 * One optimizer step at a time, the same way whatever runs it: in this thread, or (with
 * `training.threads` > 1) on replicas in worker threads that each take a part of every batch
 * (data-parallel.ts). The training loop sees only `step` and `close`.
 */
import * as tf from '@tensorflow/tfjs';
import type { DistillationConfig, LayerSpec, TrainingConfig } from '../config/types.ts';
import { holdOneKernelThread } from '../backend/intra-op/threads.ts';
import { KdqError } from '../errors.ts';
import { startReplicas } from './data-parallel.ts';
import { batchLoss, batchTensorList, batchTensors, countHits, prepareShard, type ShardData } from './shard.ts';
import { UpdateRule } from './update-rule.ts';

export interface StepResult {
  /** Sum over the batch's rows of the per-example loss. */
  lossSum: number;
  /** Rows whose argmax logit is their label. */
  hits: number;
}

export interface Stepper {
  /** Sets the learning rate of 0-based epoch `epoch` (training.schedule) and returns it; call before its first step. */
  startEpoch(epoch: number): number;
  /** One optimizer step on rows order[from..to) of epoch `epoch` (0-based). */
  step(order: Uint32Array, from: number, to: number, epoch: number): StepResult;
  /** Frees the optimizer (and stops replica threads). */
  close(): Promise<void>;
}

export interface StepperArgs {
  model: tf.LayersModel;
  /** Only this model's weights: the default list is every trainable variable in the process. */
  vars: tf.Variable[];
  data: ShardData;
  config: TrainingConfig;
  seed: number;
  /** Images per epoch. */
  n: number;
  distillation?: DistillationConfig;
  /** Names the stage in messages. */
  stage: string;
  /** How `model` was built: replica threads build theirs from it (training.threads > 1). */
  spec?: { layers: LayerSpec[]; seed: number; role: string };
}

/** The single-thread stepper, or replicas on `training.threads` threads where the backend can start them. */
export async function createStepper(args: StepperArgs): Promise<Stepper> {
  const threads = args.config.threads ?? 1;
  if (threads > 1) {
    if (!args.spec) throw new KdqError('E_INTERNAL', `stage ${args.stage}: training.threads > 1 needs the model's layer specs`);
    const parallel = await startReplicas({ ...args, spec: args.spec, replicas: threads });
    if (parallel) {
      // The replicas are a thread per core already: no kernel helper thread beside them.
      const release = holdOneKernelThread();
      return {
        ...parallel,
        close: async () => {
          release();
          await parallel.close();
        },
      };
    }
  }
  return singleThreadStepper(args);
}

function singleThreadStepper(args: StepperArgs): Stepper {
  const { model, data: d, vars } = args;
  const rule = new UpdateRule(args.config, vars);
  const shard = prepareShard(d);
  return {
    startEpoch: (epoch) => rule.startEpoch(epoch),
    step(order, from, to, epoch) {
      const t = batchTensors(shard, order, from, to, epoch);
      let logits: tf.Tensor2D | undefined;
      try {
        // What optimizer.minimize does, with the update rule (clipping, decay) between gradients and update.
        const { value, grads } = tf.variableGrads(
          batchLoss(model, d, t, (l) => (logits = l)),
          vars,
        );
        try {
          rule.applyGradients(grads);
          const mean = value.dataSync()[0];
          return { lossSum: mean * (to - from), hits: countHits(logits!, d, order, from, to) };
        } finally {
          tf.dispose([value, ...Object.values(grads)]);
        }
      } finally {
        tf.dispose([...batchTensorList(t), ...(logits ? [logits] : [])]);
      }
    },
    async close() {
      rule.dispose();
    },
  };
}
