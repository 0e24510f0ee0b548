/**
 * Data-parallel training on worker threads (`training.threads`). Each thread holds a replica of
 * the model and takes an equal part of every batch; the replicas publish their gradients in
 * shared memory, wait for each other at one barrier per step, and each sums all gradients in the
 * same order and applies the same optimizer step, so the weights stay bit-identical without
 * being sent. Thread 0 is the caller's; the others are `replica-thread.ts`.
 *
 * Shared memory, per step s (parity s & 1, double-buffered so a fast replica never overwrites
 * what a slow one still reads): every replica's gradient block, and its loss sum and hit count.
 * `ctrl[r]` is the last step replica r published; two more cells say "stop" and "replica failed".
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import type { DistillationConfig, LayerSpec, TrainingConfig } from '../config/types.ts';
import { KdqError, type ErrorCode } from '../errors.ts';
import type { BackendName } from '../names.ts';
import { epochOrder } from './batches.ts';
import { applySummed, prepareShard, shardGradients, type Shard, type ShardData } from './shard.ts';
import { UpdateRule } from './update-rule.ts';

/** A replica that publishes nothing for this long is taken to be lost (steps take milliseconds). */
const STALL_MS = 10 * 60 * 1000;

export interface ExchangeBuffers {
  grads: SharedArrayBuffer;
  ctrl: SharedArrayBuffer;
  stats: SharedArrayBuffer;
}

export class Exchange {
  readonly grads: Float32Array;
  readonly ctrl: Int32Array;
  readonly stats: Float64Array;
  readonly abortCell: number;
  readonly errorCell: number;

  constructor(
    readonly replicas: number,
    /** Parameters of the model: the length of one gradient block. */
    readonly size: number,
    readonly buffers: ExchangeBuffers = {
      grads: new SharedArrayBuffer(2 * replicas * size * 4),
      ctrl: new SharedArrayBuffer((replicas + 2) * 4),
      stats: new SharedArrayBuffer(2 * replicas * 2 * 8),
    },
  ) {
    this.grads = new Float32Array(buffers.grads);
    this.ctrl = new Int32Array(buffers.ctrl);
    this.stats = new Float64Array(buffers.stats);
    this.abortCell = replicas;
    this.errorCell = replicas + 1;
  }

  /** All replicas' gradient blocks of step `step`. */
  blocks(step: number): Float32Array {
    const n = this.replicas * this.size;
    return this.grads.subarray((step & 1) * n, ((step & 1) + 1) * n);
  }

  block(step: number, r: number): Float32Array {
    return this.blocks(step).subarray(r * this.size, (r + 1) * this.size);
  }

  publish(step: number, r: number, lossSum: number, hits: number): void {
    const at = ((step & 1) * this.replicas + r) * 2;
    this.stats[at] = lossSum;
    this.stats[at + 1] = hits;
    Atomics.store(this.ctrl, r, step);
    Atomics.notify(this.ctrl, r);
  }

  /**
   * Blocks until every replica has published `step`, then returns the sums of their loss sums and
   * hits. Throws when another replica failed (`onFailure` says why) or the run was stopped.
   */
  waitAll(step: number, onFailure: (replica: number) => never): { lossSum: number; hits: number } {
    for (let q = 0; q < this.replicas; q++) {
      let waited = 0;
      for (;;) {
        const seen = Atomics.load(this.ctrl, q);
        if (seen >= step) break;
        const failed = Atomics.load(this.ctrl, this.errorCell);
        if (failed !== 0) onFailure(failed - 1);
        if (Atomics.load(this.ctrl, this.abortCell) !== 0) throw new KdqError('E_INTERNAL', 'data-parallel training was stopped');
        if (Atomics.wait(this.ctrl, q, seen, 100) === 'timed-out' && (waited += 100) > STALL_MS) {
          throw new KdqError('E_INTERNAL', `training thread ${q} published nothing for ${STALL_MS / 60000} minutes; rerun with training.threads: 1`);
        }
      }
    }
    let lossSum = 0;
    let hits = 0;
    for (let q = 0; q < this.replicas; q++) {
      const at = ((step & 1) * this.replicas + q) * 2;
      lossSum += this.stats[at];
      hits += this.stats[at + 1];
    }
    return { lossSum, hits };
  }

  /** Tells every replica to stop at its next wait. */
  abort(): void {
    Atomics.store(this.ctrl, this.abortCell, 1);
    for (let q = 0; q < this.replicas + 2; q++) Atomics.notify(this.ctrl, q);
  }

  fail(r: number): void {
    Atomics.compareExchange(this.ctrl, this.errorCell, 0, r + 1);
    for (let q = 0; q < this.replicas + 2; q++) Atomics.notify(this.ctrl, q);
  }
}

/** What a replica needs to take part in training; the same object on every thread. */
export interface ReplicaPlan {
  replicas: number;
  data: ShardData;
  n: number;
  config: TrainingConfig;
  seed: number;
}

/**
 * One replica's side of the training loop: for every step, its shard's gradients, the barrier,
 * then the summed update. `onStep` (thread 0) receives the whole batch's loss sum and hits.
 */
export class ReplicaStepper {
  private readonly rule: UpdateRule;
  private readonly shard: Shard;
  private step = 0;

  constructor(
    private readonly model: tf.LayersModel,
    private readonly vars: tf.Variable[],
    private readonly plan: ReplicaPlan,
    private readonly exchange: Exchange,
    private readonly r: number,
    private readonly onFailure: (replica: number) => never,
  ) {
    this.rule = new UpdateRule(plan.config, vars);
    this.shard = prepareShard(plan.data);
  }

  /** Sets the learning rate of 0-based epoch `epoch`: every replica calls it at the same step. */
  startEpoch(epoch: number): number {
    return this.rule.startEpoch(epoch);
  }

  /** Runs the next step on rows order[from..to) of epoch `epoch` and returns the whole batch's loss sum and hits. */
  next(order: Uint32Array, from: number, to: number, epoch: number): { lossSum: number; hits: number } {
    const s = ++this.step;
    const ex = this.exchange;
    const mine = shardGradients(this.model, this.vars, this.shard, order, from, to, epoch, this.r, ex.replicas, ex.block(s, this.r));
    ex.publish(s, this.r, mine.lossSum, mine.hits);
    const all = ex.waitAll(s, this.onFailure);
    // A NaN loss is reported by thread 0 before anyone applies it; the others stop at the next wait.
    if (Number.isFinite(all.lossSum)) applySummed(this.rule, this.vars, ex.blocks(s), ex.replicas, ex.size);
    return all;
  }

  dispose(): void {
    this.rule.dispose();
  }

  /**
   * The whole loop, as the other threads run it (thread 0 drives its own to report progress).
   * When thread 0 stops early (training.earlyStopping), it stops these threads while they wait
   * for the next step's gradients, so no replica applies a step thread 0 did not.
   */
  runAll(): void {
    const { n, config, seed } = this.plan;
    for (let epoch = 0; epoch < config.epochs; epoch++) {
      this.startEpoch(epoch);
      const order = epochOrder(n, seed, epoch, config.shuffle);
      for (let from = 0; from < n; from += config.batchSize) {
        const all = this.next(order, from, Math.min(n, from + config.batchSize), epoch);
        if (!Number.isFinite(all.lossSum)) return;
      }
    }
  }
}

/** What `replica-thread.ts` receives as workerData. */
export interface ReplicaInit {
  backend: BackendName;
  layers: LayerSpec[];
  modelSeed: number;
  role: string;
  r: number;
  replicas: number;
  n: number;
  config: TrainingConfig;
  seed: number;
  /** The training data with its arrays in shared memory (ShardData: plain data). */
  data: ShardData;
  /** Every weight of thread 0's model (model.getWeights() order), so replicas start identical. */
  weights: Float32Array;
  exchange: ExchangeBuffers;
  port: MessagePort;
}

/** A message a replica thread sends on its port. */
export type ReplicaMessage = { ready: true } | { error: string; code: ErrorCode };

/** The same numbers in shared memory (a copy unless they already are). */
export function shared<T extends Float32Array | Uint8Array | Int32Array>(a: T): T {
  if (a.buffer instanceof SharedArrayBuffer) return a;
  const ctor = a.constructor as { new (b: SharedArrayBuffer): T };
  const out = new ctor(new SharedArrayBuffer(a.byteLength));
  out.set(a);
  return out;
}

/** tf.js backend name -> kdq's, for the backends a replica thread can start. */
export function threadBackend(): BackendName | null {
  const name = tf.getBackend();
  return name === 'wasm' || name === 'cpu' ? name : null;
}

/** The thread's script: the compiled module, or (run from TypeScript: tsx, vitest) a bootstrap that registers tsx first. */
function workerScript(): { script: string | URL; evalCode: boolean } {
  if (!import.meta.url.endsWith('.ts')) return { script: new URL('./replica-thread.js', import.meta.url), evalCode: false };
  // The `import` target of tsx's "./esm/api" export (resolving through require picks its CJS build).
  const tsxRoot = dirname(createRequire(import.meta.url).resolve('tsx/package.json'));
  const api = pathToFileURL(join(tsxRoot, 'dist', 'esm', 'api', 'index.mjs')).href;
  const entry = new URL('./replica-thread.ts', import.meta.url).href;
  return { script: `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`, evalCode: true };
}

export interface ReplicaThread {
  worker: Worker;
  port: MessagePort;
}

/** Starts replica thread `r` and resolves once it has built its model and is ready to step. */
export async function startReplica(init: Omit<ReplicaInit, 'port'>): Promise<ReplicaThread> {
  const { port1, port2 } = new MessageChannel();
  const { script, evalCode } = workerScript();
  const worker = new Worker(script, { eval: evalCode, workerData: { ...init, port: port2 }, transferList: [port2] });
  try {
    await new Promise<void>((resolve, reject) => {
      port1.once('message', (m: ReplicaMessage) => ('ready' in m ? resolve() : reject(new KdqError(m.code, m.error))));
      worker.once('error', (e) => reject(new KdqError('E_INTERNAL', `training thread ${init.r} failed to start: ${e.message}`)));
      worker.once('exit', (code) => reject(new KdqError('E_INTERNAL', `training thread ${init.r} exited with code ${code} before it was ready`)));
    });
  } catch (e) {
    await worker.terminate();
    throw e;
  }
  return { worker, port: port1 };
}

/** The error a failed replica reported, read without the event loop (thread 0 is blocked in a wait). */
export function replicaFailure(threads: ReplicaThread[], replica: number): never {
  const t = threads.find((_, i) => i + 1 === replica);
  const m = t ? (receiveMessageOnPort(t.port)?.message as ReplicaMessage | undefined) : undefined;
  if (m && 'error' in m) throw new KdqError(m.code, m.error);
  throw new KdqError('E_INTERNAL', `training thread ${replica} failed without a message; rerun with training.threads: 1`);
}

/** What `startReplicas` needs: the stepper's arguments (see stepper.ts) and the replica count. */
export interface ParallelArgs {
  model: tf.LayersModel;
  vars: tf.Variable[];
  data: ShardData;
  config: TrainingConfig;
  seed: number;
  n: number;
  distillation?: DistillationConfig;
  spec: { layers: LayerSpec[]; seed: number; role: string };
  replicas: number;
}

/**
 * Starts `replicas - 1` replica threads and returns thread 0's side of every step, or null where a
 * thread cannot start this backend (tfjs-node runs its own thread pool): then train in one thread.
 */
export async function startReplicas(
  a: ParallelArgs,
): Promise<{ startEpoch: ReplicaStepper['startEpoch']; step: ReplicaStepper['next']; close(): Promise<void> } | null> {
  const backend = threadBackend();
  if (a.replicas <= 1 || backend === null) return null;
  const size = a.vars.reduce((s, v) => s + v.size, 0);
  const exchange = new Exchange(a.replicas, size);
  const weights = allWeights(a.model);
  const data: ShardData = {
    ...a.data,
    examples: shared(a.data.examples),
    labels: shared(a.data.labels),
    softLogits: a.data.softLogits ? shared(a.data.softLogits) : undefined,
  };
  const threads: ReplicaThread[] = [];
  const stop = async () => {
    exchange.abort();
    await Promise.all(threads.map((t) => t.worker.terminate()));
  };
  try {
    for (let r = 1; r < a.replicas; r++) {
      threads.push(
        await startReplica({
          backend,
          layers: a.spec.layers,
          modelSeed: a.spec.seed,
          role: a.spec.role,
          r,
          replicas: a.replicas,
          n: a.n,
          config: a.config,
          seed: a.seed,
          data,
          weights,
          exchange: exchange.buffers,
        }),
      );
    }
  } catch (e) {
    await stop();
    throw e;
  }
  const stepper = new ReplicaStepper(a.model, a.vars, { replicas: a.replicas, n: a.n, config: a.config, seed: a.seed, data }, exchange, 0, (replica) =>
    replicaFailure(threads, replica),
  );
  return {
    startEpoch: (epoch) => stepper.startEpoch(epoch),
    step: (order, from, to, epoch) => stepper.next(order, from, to, epoch),
    close: async () => {
      stepper.dispose();
      await stop();
    },
  };
}

/** Every weight of `model`, trainable or not, in getWeights() order, in shared memory. */
function allWeights(model: tf.LayersModel): Float32Array {
  const ws = model.getWeights();
  const out = new Float32Array(new SharedArrayBuffer(ws.reduce((a, t) => a + t.size, 0) * 4));
  let offset = 0;
  for (const t of ws) {
    out.set(t.dataSync() as Float32Array, offset);
    offset += t.size;
  }
  return out;
}
