/**
 * One replica's share of a training step, used by the data-parallel trainer on every thread:
 * the gradient of its rows' loss, scaled so that the replicas' gradients sum to the gradient of
 * the whole batch's mean loss. The batch is cut the same way on every thread, so the cut needs
 * nothing but the batch bounds and the replica count.
 */
import * as tf from '@tensorflow/tfjs';
import type { AugmentConfig, DistillationConfig } from '../config/types.ts';
import type { ElementType, ExampleArray } from '../data/formats/types.ts';
import { modelInputs, type ModelInputs } from '../data/model-inputs.ts';
import type { Preprocessing } from '../data/preprocess.ts';
import { crossEntropyFromLogits, distillationLoss, softTargets, type SoftTargets } from '../models/losses.ts';
import { augmentTransform } from './augment.ts';
import { gatherLabels, gatherRows, oneHotRows } from './batches.ts';
import { argmaxRows } from './metrics.ts';

/** Rows [start, end) of a batch [from, to) that replica `r` of `replicas` takes. */
export function shardBounds(from: number, to: number, r: number, replicas: number): [number, number] {
  const b = to - from;
  return [from + Math.floor((r * b) / replicas), from + Math.floor(((r + 1) * b) / replicas)];
}

/** The wasm backend's view of a tensor's bytes in its heap (valid until the next allocation). */
interface HeapBackend {
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
}

/** The training data as plain data (it is sent to replica threads): stored examples and how to convert them. */
export interface ShardData {
  /** Stored examples (uint8 images stay bytes), example after example. */
  examples: ExampleArray;
  labels: Int32Array;
  /** Teacher logits, one row per example, with `distillation`. */
  softLogits?: Float32Array;
  distillation?: DistillationConfig;
  /** `training.labelSmoothing` of the hard cross-entropy (absent: none). */
  labelSmoothing?: number;
  /** Shape of one example: [H, W, C] or [F]. */
  inputShape: number[];
  dtype: ElementType;
  /** How stored values become model inputs; null when they already are. */
  preprocessing: Preprocessing | null;
  numClasses: number;
  /** `training.augment` (images only), with the seed its draws derive from. */
  augment?: { config: AugmentConfig; seed: number };
}

/** ShardData ready to make batches in one thread: its ModelInputs, built once. */
export interface Shard {
  data: ShardData;
  inputs: ModelInputs;
  /** The `kl` term's teacher side for every example (softTargets), one row each: it depends on no weight. */
  targets: { logP: Float32Array; p: Float32Array } | null;
}

/** Rows of teacher logits per softTargets call while a shard is prepared. */
const TARGET_ROWS = 4096;

export function prepareShard(data: ShardData): Shard {
  return { data, inputs: modelInputs(data.examples, data.inputShape, data.dtype, data.preprocessing), targets: allSoftTargets(data) };
}

/** softTargets of every example's teacher logits, or null without a `kl` term. */
function allSoftTargets(d: ShardData): Shard['targets'] {
  if (!d.softLogits || d.distillation?.loss !== 'kl') return null;
  const k = d.numClasses;
  const logP = new Float32Array(d.softLogits.length);
  const p = new Float32Array(d.softLogits.length);
  for (let at = 0; at < d.softLogits.length; at += TARGET_ROWS * k) {
    const rows = d.softLogits.subarray(at, at + TARGET_ROWS * k);
    tf.tidy(() => {
      const t = softTargets(tf.tensor2d(rows, [rows.length / k, k]), d.distillation!.temperature);
      logP.set(t.logP.dataSync() as Float32Array, at);
      p.set(t.p.dataSync() as Float32Array, at);
    });
  }
  return { logP, p };
}

export interface ShardResult {
  /** Sum over this shard's rows of the per-example loss. */
  lossSum: number;
  /** Rows whose argmax logit is the label. */
  hits: number;
}

/** The tensors of rows order[start..end): examples, one-hot labels and (with KD) teacher logits. */
export interface BatchTensors {
  xs: tf.Tensor;
  ys: tf.Tensor2D;
  ts: tf.Tensor2D | null;
  /** The teacher logits' softTargets, with a `kl` term. */
  targets: SoftTargets | null;
}

/** Every tensor of a batch, to dispose. */
export function batchTensorList(t: BatchTensors): tf.Tensor[] {
  return [t.xs, t.ys, ...(t.ts ? [t.ts] : []), ...(t.targets ? [t.targets.logP, t.targets.p] : [])];
}

/** The batch of rows order[start..end) of epoch `epoch` (0-based; it draws the augmentation). */
export function batchTensors(s: Shard, order: Uint32Array, start: number, end: number, epoch: number): BatchTensors {
  const d = s.data;
  const k = d.numClasses;
  const rows = end - start;
  const transform = d.augment ? augmentTransform(d.augment.config, d.inputShape, d.augment.seed, epoch) : undefined;
  return {
    xs: tf.tensor(s.inputs.gather(order, start, end, transform), [rows, ...d.inputShape], 'float32'),
    ys: tf.tensor2d(oneHotRows(d.labels, k, order, start, end), [rows, k]),
    ts: d.softLogits ? tf.tensor2d(gatherRows(d.softLogits, k, order, start, end), [rows, k]) : null,
    targets: s.targets
      ? {
          logP: tf.tensor2d(gatherRows(s.targets.logP, k, order, start, end), [rows, k]),
          p: tf.tensor2d(gatherRows(s.targets.p, k, order, start, end), [rows, k]),
        }
      : null,
  };
}

/**
 * The training loss of a batch as a function for tf.js' gradient tape: KD when the batch has
 * teacher logits, cross-entropy otherwise. `keep` receives the logits (kept past the tape).
 */
export function batchLoss(model: tf.LayersModel, d: ShardData, t: BatchTensors, keep: (logits: tf.Tensor2D) => void): () => tf.Scalar {
  return () => {
    const out = model.apply(t.xs, { training: true }) as tf.Tensor2D;
    keep(tf.keep(out));
    return t.ts && d.distillation
      ? distillationLoss({
          studentLogits: out,
          teacherLogits: t.ts,
          oneHot: t.ys,
          config: d.distillation,
          labelSmoothing: d.labelSmoothing,
          ...(t.targets ? { targets: t.targets } : {}),
        })
      : crossEntropyFromLogits(t.ys, out, d.labelSmoothing);
  };
}

/** Rows order[start..end) whose argmax logit is their label. */
export function countHits(logits: tf.Tensor2D, d: ShardData, order: Uint32Array, start: number, end: number): number {
  const predicted = argmaxRows(logits.dataSync() as Float32Array, d.numClasses);
  const labels = gatherLabels(d.labels, order, start, end);
  let hits = 0;
  for (let i = 0; i < end - start; i++) if (predicted[i] === labels[i]) hits++;
  return hits;
}

/**
 * Computes replica `r`'s gradients for batch rows order[from..to) and writes them, variable after
 * variable in `vars` order, into `out`. A replica whose shard is empty (a last batch smaller
 * than the replica count) writes zeros.
 */
export function shardGradients(
  model: tf.LayersModel,
  vars: tf.Variable[],
  s: Shard,
  order: Uint32Array,
  from: number,
  to: number,
  epoch: number,
  r: number,
  replicas: number,
  out: Float32Array,
): ShardResult {
  const d = s.data;
  const [start, end] = shardBounds(from, to, r, replicas);
  const rows = end - start;
  if (rows === 0) {
    out.fill(0);
    return { lossSum: 0, hits: 0 };
  }
  const t = batchTensors(s, order, start, end, epoch);
  // The losses are means over their rows; weighting each shard by its share of the batch makes the
  // sum of the replicas' gradients the gradient of the batch mean.
  const share = rows / (to - from);
  let logits: tf.Tensor2D | undefined;
  try {
    const loss = batchLoss(model, d, t, (l) => (logits = l));
    const { value, grads } = tf.variableGrads(() => tf.mul(loss(), share) as tf.Scalar, vars);
    let offset = 0;
    const wasm = tf.getBackend() === 'wasm' ? (tf.backend() as unknown as HeapBackend) : null;
    for (const v of vars) {
      const g = grads[v.name];
      // On wasm, copy straight out of the backend's heap (dataSync would copy twice).
      out.set((wasm ? wasm.typedArrayFromHeap(g) : g.dataSync()) as Float32Array, offset);
      offset += v.size;
    }
    const lossSum = value.dataSync()[0] * (to - from);
    tf.dispose([value, ...Object.values(grads)]);
    return { lossSum, hits: countHits(logits!, d, order, start, end) };
  } finally {
    tf.dispose([...batchTensorList(t), ...(logits ? [logits] : [])]);
  }
}

/**
 * Sums the replicas' gradient blocks (block q at q * size) and applies the sum with `optimizer`.
 * Every replica runs the same kernels on the same numbers in the same order, so their weights
 * stay bit-identical without ever being sent.
 */
export function applySummed(optimizer: Pick<tf.Optimizer, 'applyGradients'>, vars: tf.Variable[], blocks: Float32Array, replicas: number, size: number): void {
  const named: Record<string, tf.Tensor> = {};
  tf.tidy(() => {
    let offset = 0;
    for (const v of vars) {
      const parts: tf.Tensor[] = [];
      for (let q = 0; q < replicas; q++) {
        const at = q * size + offset;
        parts.push(tf.tensor(blocks.subarray(at, at + v.size), v.shape, 'float32'));
      }
      // The backend's vectorised add: a JavaScript loop over the teacher's 693k gradients took 2 ms a step.
      named[v.name] = tf.keep(parts.length === 1 ? parts[0] : tf.addN(parts));
      offset += v.size;
    }
  });
  try {
    optimizer.applyGradients(named);
  } finally {
    tf.dispose(Object.values(named));
  }
}
