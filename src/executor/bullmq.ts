/**
 * The BullMQ executor: the task DAG goes to Redis as one BullMQ flow, whose parent jobs wait for
 * their children. A flow is a tree and the DAG is not (the data stage feeds every stage), so each
 * task is the child of its first dependent and tasks nothing depends on are children of a root
 * job; a worker that takes a task whose other deps are not in the shared cache yet puts it back
 * as delayed (see worker.ts), so no worker blocks waiting. Retries with backoff, stalled-job
 * recovery (a killed worker's stage goes to another worker) and progress are BullMQ's.
 */
import { randomBytes } from 'node:crypto';
import { KdqError } from '../errors.ts';
import { checkRedis, redisOptions, STAGE_QUEUE } from './redis.ts';
import type { ExecuteOptions, Executor, StageTask, TaskOutcome, TaskPlan } from './types.ts';

/** Job names in the stage queue. */
export const JOB_STAGE = 'stage';
export const JOB_ROOT = 'flow-root';

/** Data of a root job: nothing to compute, it completes when every task of its flow has. */
export interface RootJobData {
  flow: string;
  tasks: number;
}

/** What a stage job returns. */
export type StageJobResult = Pick<TaskOutcome, 'key' | 'stageId' | 'status' | 'seconds' | 'worker'>;

export interface FlowTree {
  /** Keys of the root's children. */
  roots: string[];
  /** Task key -> keys of the tasks that are its children in the flow. */
  children: Record<string, string[]>;
}

/** Each task becomes the child of its first dependent in plan order; tasks without dependents hang off the root. */
export function flowTree(plan: TaskPlan): FlowTree {
  const children: Record<string, string[]> = Object.fromEntries(plan.order.map((k) => [k, [] as string[]]));
  const owner = new Map<string, string>();
  for (const k of plan.order) {
    for (const d of plan.tasks[k]!.deps) if (!owner.has(d)) owner.set(d, k);
  }
  const roots: string[] = [];
  for (const k of plan.order) {
    const o = owner.get(k);
    if (o === undefined) roots.push(k);
    else children[o]!.push(k);
  }
  return { roots, children };
}

export interface BullmqExecutorOptions {
  redis: string;
  /** The submitter's cache folder (the workers' --cache-dir must be the same shared folder). */
  cacheDir: string;
  /** Attempts per stage (default 3), with exponential backoff from `backoffMs` (default 2000). */
  attempts?: number;
  backoffMs?: number;
}

export class BullmqExecutor implements Executor {
  readonly name = 'bullmq';
  private closers: (() => Promise<void>)[] = [];

  constructor(private readonly opts: BullmqExecutorOptions) {
    redisOptions(opts.redis); // a bad URL is a usage error before anything starts
  }

  async execute(plan: TaskPlan, opts: ExecuteOptions = {}): Promise<TaskOutcome[]> {
    if (plan.order.length === 0) return [];
    const emit = opts.onEvent ?? (() => undefined);
    await checkRedis(this.opts.redis);
    const { FlowProducer, QueueEvents, Queue } = await import('bullmq');
    const connection = redisOptions(this.opts.redis);
    const events = new QueueEvents(STAGE_QUEUE, { connection });
    const producer = new FlowProducer({ connection });
    const queue = new Queue(STAGE_QUEUE, { connection });
    this.closers.push(
      () => events.close(),
      () => producer.close(),
      () => queue.close(),
    );
    await events.waitUntilReady();

    const flow = randomBytes(6).toString('hex');
    const tree = flowTree(plan);
    const jobOpts = {
      attempts: this.opts.attempts ?? 3,
      backoff: { type: 'exponential', delay: this.opts.backoffMs ?? 2000 },
      failParentOnFailure: true,
      removeOnComplete: { age: 24 * 3600 },
      removeOnFail: { age: 7 * 24 * 3600 },
    };
    type Node = { name: string; queueName: string; data: unknown; opts: object; children?: Node[] };
    const jobIdOf = (key: string) => `${flow}-${key.slice(0, 24)}`;
    const node = (key: string): Node => {
      const task: StageTask = plan.tasks[key]!;
      const kids = tree.children[key]!;
      return {
        name: JOB_STAGE,
        queueName: STAGE_QUEUE,
        data: task,
        opts: { ...jobOpts, jobId: jobIdOf(key) },
        ...(kids.length > 0 ? { children: kids.map(node) } : {}),
      };
    };
    const byJobId = new Map(plan.order.map((k) => [jobIdOf(k), k]));
    const outcomes = new Map<string, TaskOutcome>();
    events.on('active', ({ jobId }) => {
      const key = byJobId.get(jobId);
      if (key) emit({ type: 'start', task: plan.tasks[key]!, worker: 'a bullmq worker' });
    });
    events.on('progress', ({ jobId, data }) => {
      const key = byJobId.get(jobId);
      const message = typeof data === 'object' && data !== null && 'message' in data ? String((data as { message: unknown }).message) : String(data);
      if (key) emit({ type: 'progress', key, message });
    });
    events.on('completed', ({ jobId, returnvalue }) => {
      const key = byJobId.get(jobId);
      if (!key) return;
      const r = (typeof returnvalue === 'string' ? JSON.parse(returnvalue) : returnvalue) as StageJobResult;
      const o: TaskOutcome = { key, stageId: plan.tasks[key]!.stageId, status: r.status, seconds: r.seconds, worker: r.worker };
      outcomes.set(key, o);
      emit({ type: 'end', outcome: o });
    });
    events.on('failed', ({ jobId, failedReason }) => {
      const key = byJobId.get(jobId);
      if (!key) return;
      const o: TaskOutcome = { key, stageId: plan.tasks[key]!.stageId, status: 'failed', seconds: 0, error: failedReason };
      outcomes.set(key, o);
      emit({ type: 'end', outcome: o });
    });

    const root = await producer.add({
      name: JOB_ROOT,
      queueName: STAGE_QUEUE,
      data: { flow, tasks: plan.order.length } satisfies RootJobData,
      opts: { jobId: `${flow}-root`, removeOnComplete: { age: 24 * 3600 }, removeOnFail: { age: 7 * 24 * 3600 } },
      children: tree.roots.map(node),
    });
    try {
      await root.job.waitUntilFinished(events);
    } catch {
      // A stage failed for good (its parents failed with it). Jobs of this flow that still wait are
      // dropped; the walk that follows reports the failing stage's error the usual way.
      for (const jobId of byJobId.keys()) await queue.remove(jobId).catch(() => undefined);
    }
    if (opts.signal?.aborted) throw new KdqError('E_EXECUTOR', 'run cancelled; stages done so far are cached, rerun to continue');
    return plan.order.map(
      (k) =>
        outcomes.get(k) ?? { key: k, stageId: plan.tasks[k]!.stageId, status: 'skipped', seconds: 0, error: 'its flow stopped after another stage failed' },
    );
  }

  async close(): Promise<void> {
    const cs = this.closers;
    this.closers = [];
    for (const c of cs) await c().catch(() => undefined);
  }
}
