/**
 * `kdq worker`: takes stage tasks and computes them into the shared cache, until stopped.
 * - `--redis URL`: from BullMQ (any number of workers on any machines sharing the cache folder);
 *   SIGINT/SIGTERM finish the current stage and exit, a killed worker's stage is retried by another.
 * - `--ipc`: from the parent `kdq run --jobs N` process, over execa's IPC channel.
 */
import { hostname } from 'node:os';
import { Writable } from 'node:stream';
import { setKernelThreads } from '../backend/intra-op/threads.ts';
import { KdqError } from '../errors.ts';
import { Cache } from '../pipeline/cache.ts';
import { JOB_ROOT, type StageJobResult } from './bullmq.ts';
import { checkRedis, redisOptions, STAGE_QUEUE } from './redis.ts';
import { runTask } from './run-task.ts';
import type { StageTask, TaskOutcome, WorkerReply, WorkerRequest } from './types.ts';

export interface WorkerOptions {
  ipc?: boolean;
  redis?: string;
  cacheDir: string;
  runsDir: string;
  /** BullMQ lock duration: a stage without a heartbeat for this long goes to another worker (default 30 s). */
  lockMs?: number;
  log?: (line: string) => void;
  /** Most threads the kernels use (`--kernel-threads`); an IPC worker's parent lowers it while other stages run. */
  kernelThreads?: number;
  /** Stops the BullMQ worker (tests); SIGINT and SIGTERM do the same. */
  signal?: AbortSignal;
}

export async function runWorker(opts: WorkerOptions): Promise<void> {
  if (opts.ipc === (opts.redis !== undefined)) {
    throw new KdqError('E_USAGE', "kdq worker needs --redis redis://HOST:PORT (the queue of 'kdq run --executor bullmq')");
  }
  if (opts.ipc) return ipcWorker(opts);
  setKernelThreads(opts.kernelThreads ?? 1);
  return bullmqWorker(opts);
}

/**
 * Training progress of whichever task a worker is computing, as whole lines (one per epoch: the
 * stream is not a terminal, so no bar is redrawn) handed to `send` with that task's key. The
 * worker keeps one workspace, and so one progress stream, for all its tasks: `current` says whose.
 */
function progressLines(send: (key: string, line: string) => void): { stream: Writable; current: { key?: string } } {
  const current: { key?: string } = {};
  let pending = '';
  const stream = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) if (line.trim() !== '' && current.key !== undefined) send(current.key, line);
      done();
    },
  });
  return { stream, current };
}

async function ipcWorker(opts: WorkerOptions): Promise<void> {
  const { getEachMessage, sendMessage } = await import('execa');
  // The parent is gone (killed, or its terminal closed): stop at once, as it did. What this worker
  // was computing is left as a dead process's temp folder and lock, which the next run clears.
  const parentGone = () => process.exit(1);
  process.once('disconnect', parentGone);
  const progress = progressLines((key, message) => {
    void sendMessage({ type: 'progress', key, message } satisfies WorkerReply as never).catch(() => undefined);
  });
  // The parent's share of the cores can change while a stage runs: applied at once (training
  // lets the event loop run every few steps), not after the stage, where getEachMessage sees it.
  const max = opts.kernelThreads ?? 1;
  const applyThreads = (threads: number) => setKernelThreads(Math.max(1, Math.min(max, threads)));
  const onMessage = (raw: unknown) => {
    const m = raw as WorkerRequest | null;
    if (m !== null && typeof m === 'object' && m.type === 'threads') applyThreads(m.threads);
  };
  process.on('message', onMessage);
  for await (const raw of getEachMessage()) {
    const m = raw as unknown as WorkerRequest;
    if (m.type === 'exit') break;
    if (m.type === 'threads') continue;
    applyThreads(m.threads);
    let outcome: TaskOutcome;
    progress.current.key = m.task.key;
    try {
      outcome = await runTask(m.task, {
        cacheDir: opts.cacheDir,
        runsDir: opts.runsDir,
        worker: `pid ${process.pid}`,
        // Progress (stage messages and a line per epoch) goes to the parent, which prints it; stderr is left for crashes.
        progress: progress.stream,
        log: (message) => {
          void sendMessage({ type: 'progress', key: m.task.key, message } satisfies WorkerReply as never).catch(() => undefined);
        },
      });
    } catch (e) {
      outcome = {
        key: m.task.key,
        stageId: m.task.stageId,
        status: 'failed',
        seconds: 0,
        worker: `pid ${process.pid}`,
        error: (e as Error).message ?? String(e),
      };
    }
    await sendMessage({ type: 'done', outcome } satisfies WorkerReply as never);
  }
  // Told to exit: close the channel, which the 'message' listener keeps open, so the event loop
  // empties and the process ends now rather than when the parent kills it (5 s later).
  process.off('disconnect', parentGone);
  process.off('message', onMessage);
  process.disconnect?.();
}

/** True when every dep of the task is in the cache, so running it now cannot block on another worker. */
async function depsReady(cache: Cache, task: StageTask): Promise<boolean> {
  for (const d of task.deps) if ((await cache.get(d)) === null) return false;
  return true;
}

async function bullmqWorker(opts: WorkerOptions): Promise<void> {
  const url = opts.redis!;
  const log = opts.log ?? (() => undefined);
  await checkRedis(url);
  const { Worker, DelayedError, UnrecoverableError } = await import('bullmq');
  const lockMs = opts.lockMs ?? 30_000;
  const cache = new Cache(opts.cacheDir, { onWarn: (m) => log(`warning: ${m}`) });
  const name = `${hostname()} pid ${process.pid}`;
  // One stage at a time (concurrency 1): its job gets the epoch lines too, for the submitter.
  let jobLog: ((line: string) => void) | undefined;
  const progress = progressLines((_key, line) => {
    log(line);
    jobLog?.(line);
  });
  const worker = new Worker(
    STAGE_QUEUE,
    async (job, token) => {
      if (job.name === JOB_ROOT) return { flow: (job.data as { flow: string }).flow };
      const task = job.data as StageTask;
      if (!(await depsReady(cache, task))) {
        // A dep this task does not own in the flow tree is still queued or running elsewhere.
        await job.moveToDelayed(Date.now() + 1000, token);
        throw new DelayedError();
      }
      log(`${task.stageId}: taken (attempt ${job.attemptsMade + 1}, key ${task.key.slice(0, 12)})`);
      let outcome: TaskOutcome;
      progress.current.key = task.key;
      jobLog = (message) => {
        void job.updateProgress({ message }).catch(() => undefined);
        void job.log(message).catch(() => undefined);
      };
      try {
        outcome = await runTask(task, {
          cacheDir: opts.cacheDir,
          runsDir: opts.runsDir,
          worker: name,
          progress: progress.stream,
          // A cache lock whose holder died on another host is taken over after this long.
          lock: { staleMs: Math.max(60_000, lockMs * 2) },
          log: (message) => {
            log(message);
            jobLog?.(message);
          },
        });
      } catch (e) {
        // A different key means a different kdq, backend or data here: retrying cannot help.
        throw new UnrecoverableError((e as Error).message ?? String(e));
      }
      if (outcome.status === 'failed') throw new Error(outcome.error ?? 'stage failed');
      log(`${task.stageId}: ${outcome.status} in ${outcome.seconds.toFixed(1)} s`);
      return { key: outcome.key, stageId: outcome.stageId, status: outcome.status, seconds: outcome.seconds, worker: name } satisfies StageJobResult;
    },
    {
      connection: redisOptions(url),
      concurrency: 1,
      lockDuration: lockMs,
      stalledInterval: Math.max(1000, Math.floor(lockMs / 2)),
      maxStalledCount: 2,
    },
  );
  worker.on('error', (e) => log(`warning: ${e.message}`));
  log(`kdq worker ${name}: taking stages from ${url} (queue ${STAGE_QUEUE}), cache ${opts.cacheDir}`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    opts.signal?.addEventListener('abort', stop, { once: true });
  });
  log(`kdq worker ${name}: stopping after the current stage`);
  await worker.close();
}
