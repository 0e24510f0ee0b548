/**
 * The local executor (`--jobs N`): N worker processes (`kdq worker --ipc`, started with execa) take
 * tasks over IPC as soon as their deps are done. Training is CPU-bound and tf.js runs one thread
 * per process, so processes, not promises, are what use the cores. The cache's per-key locks keep
 * the workers (and any other kdq process sharing the cache) from computing a key twice.
 */
import { fileURLToPath } from 'node:url';
import { kernelThreadsWhile } from '../backend/intra-op/threads.ts';
import { KdqError } from '../errors.ts';
import { dependentsOf } from './task-plan.ts';
import type { ExecuteOptions, Executor, StageTask, TaskOutcome, TaskPlan, WorkerReply, WorkerRequest } from './types.ts';

const KDQ_BIN = fileURLToPath(new URL('../../bin/kdq.mjs', import.meta.url));

export interface LocalExecutorOptions {
  jobs: number;
  /** Most threads a worker's kernels use; each running stage gets its share of the cores (kernelThreadsWhile). Default 1. */
  kernelThreads?: number;
  /** Cores to share out (default: this machine's). */
  cores?: number;
  cacheDir: string;
  runsDir: string;
  /** Worker stderr lines (stage progress), e.g. to the CLI's log. */
  log?: (line: string) => void;
}

/** How long a worker told to exit may take before it is stopped. */
const EXIT_WAIT_MS = 5000;

const WORKER_OPTIONS = { ipc: true, serialization: 'json', stdout: 'ignore', stderr: 'pipe', reject: false, buffer: false } as const;

interface WorkerHandle {
  name: string;
  proc: import('execa').ResultPromise<typeof WORKER_OPTIONS>;
  busy: StageTask | null;
  /** The thread count last sent to it. */
  threads: number;
}

export class LocalExecutor implements Executor {
  readonly name = 'local';
  private workers: WorkerHandle[] = [];

  constructor(private readonly opts: LocalExecutorOptions) {
    if (!Number.isInteger(opts.jobs) || opts.jobs < 1) throw new KdqError('E_USAGE', `--jobs must be a whole number of at least 1, got ${opts.jobs}`);
  }

  private get maxThreads(): number {
    return this.opts.kernelThreads ?? 1;
  }

  /** The kernel threads each running stage may use now. */
  private coreShare(): number {
    return kernelThreadsWhile(this.workers.filter((w) => w.busy !== null).length, this.maxThreads, this.opts.cores);
  }

  /** Each busy worker's share of the cores, sent when it changed (a stage started or ended). */
  private shareCores(): void {
    const threads = this.coreShare();
    for (const w of this.workers.filter((x) => x.busy !== null)) {
      if (w.threads === threads) continue;
      w.threads = threads;
      w.proc.sendMessage({ type: 'threads', threads } satisfies WorkerRequest as never).catch(() => undefined);
    }
  }

  private async start(count: number): Promise<void> {
    const { execaNode } = await import('execa');
    for (let i = this.workers.length; i < count; i++) {
      const name = `local worker ${i + 1}`;
      const args = ['worker', '--ipc', '--kernel-threads', String(this.maxThreads), '--cache-dir', this.opts.cacheDir, '--runs-dir', this.opts.runsDir];
      const proc = execaNode(KDQ_BIN, args, WORKER_OPTIONS);
      proc.stderr?.setEncoding('utf8');
      let pending = '';
      proc.stderr?.on('data', (chunk: string) => {
        pending += chunk;
        const lines = pending.split('\n');
        pending = lines.pop() ?? '';
        for (const l of lines) if (l.trim() !== '') this.opts.log?.(`[${name}] ${l}`);
      });
      this.workers.push({ name, proc, busy: null, threads: this.maxThreads });
    }
  }

  async execute(plan: TaskPlan, opts: ExecuteOptions = {}): Promise<TaskOutcome[]> {
    const emit = opts.onEvent ?? (() => undefined);
    const outcomes = new Map<string, TaskOutcome>();
    if (plan.order.length === 0) return [];
    await this.start(Math.min(this.opts.jobs, plan.order.length));
    const waiting = new Set(plan.order);

    return new Promise<TaskOutcome[]>((resolve, reject) => {
      let settled = false;
      const finishIfDone = () => {
        if (settled || outcomes.size < plan.order.length) return;
        settled = true;
        resolve(plan.order.map((k) => outcomes.get(k)!));
      };
      const record = (o: TaskOutcome) => {
        outcomes.set(o.key, o);
        emit({ type: 'end', outcome: o });
        if (o.status === 'failed') {
          for (const d of dependentsOf(plan, o.key)) {
            if (!waiting.delete(d)) continue;
            const t = plan.tasks[d]!;
            const skipped: TaskOutcome = { key: d, stageId: t.stageId, status: 'skipped', seconds: 0, error: `dependency ${o.stageId} failed` };
            outcomes.set(d, skipped);
            emit({ type: 'end', outcome: skipped });
          }
        }
      };
      const dispatch = () => {
        if (settled) return;
        if (opts.signal?.aborted) {
          settled = true;
          reject(new KdqError('E_EXECUTOR', 'run cancelled; stages done so far are cached, rerun to continue'));
          return;
        }
        const started: WorkerHandle[] = [];
        for (const w of this.workers) {
          if (w.busy) continue;
          const next = [...waiting].find((k) => plan.tasks[k]!.deps.every((d) => outcomes.get(d)?.status === 'ran' || outcomes.get(d)?.status === 'cached'));
          if (next === undefined) break;
          waiting.delete(next);
          w.busy = plan.tasks[next]!;
          started.push(w);
        }
        // Each new task goes out with its share of the cores once all are assigned; the workers
        // already busy hear of a change of share.
        const threads = this.coreShare();
        for (const w of started) {
          const task = w.busy!;
          emit({ type: 'start', task, worker: w.name });
          w.threads = threads;
          w.proc.sendMessage({ type: 'task', task, threads } satisfies WorkerRequest as never).catch((e: Error) => fail(w, e.message));
        }
        this.shareCores();
        finishIfDone();
      };
      const fail = (w: WorkerHandle, why: string) => {
        const task = w.busy;
        w.busy = null;
        if (task && !outcomes.has(task.key)) record({ key: task.key, stageId: task.stageId, status: 'failed', seconds: 0, worker: w.name, error: why });
        this.workers = this.workers.filter((x) => x !== w);
        if (this.workers.length === 0 && !settled && outcomes.size < plan.order.length) {
          settled = true;
          reject(new KdqError('E_EXECUTOR', `every local worker process exited (last: ${why}); rerun with --debug or --jobs 1 to see the error`));
          return;
        }
        dispatch();
      };
      for (const w of this.workers) {
        (async () => {
          for await (const raw of w.proc.getEachMessage()) {
            const m = raw as unknown as WorkerReply;
            if (m.type === 'progress') emit({ type: 'progress', key: m.key, message: m.message });
            else if (m.type === 'done') {
              w.busy = null;
              record({ ...m.outcome, worker: `${w.name} (${m.outcome.worker ?? ''})` });
              dispatch();
            }
          }
        })().catch(() => undefined);
        w.proc.then((r) => {
          if (this.workers.includes(w)) fail(w, `worker process exited with ${r.signal ?? `code ${r.exitCode}`}`);
        });
      }
      dispatch();
    });
  }

  async close(): Promise<void> {
    const ws = this.workers;
    this.workers = [];
    await Promise.all(
      ws.map(async (w) => {
        await w.proc.sendMessage({ type: 'exit' } satisfies WorkerRequest as never).catch(() => undefined);
        let killed = false;
        const timer = setTimeout(() => {
          killed = true;
          w.proc.kill('SIGTERM');
        }, EXIT_WAIT_MS);
        await w.proc;
        clearTimeout(timer);
        // A worker that lingers holds up the end of every run by this long: worth a line.
        if (killed) this.opts.log?.(`${w.name} did not exit within ${EXIT_WAIT_MS / 1000} s of being told to; stopped it with SIGTERM`);
      }),
    );
  }
}
