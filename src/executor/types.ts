/**
 * Executors fill the cache: given the cacheable stages that have no entry yet (of one experiment or
 * of every point of a sweep, deduplicated by key), they compute them somewhere (N local worker
 * processes, or workers on other machines taking jobs from BullMQ) into the one shared cache. The
 * submitter then walks each experiment's graph as usual and finds every cacheable stage cached.
 * A task is plain, serialisable data: it travels over IPC or through Redis unchanged.
 */
import type { Experiment } from '../config/types.ts';
import type { BackendName } from '../names.ts';

export interface StageTask {
  /** The stage's cache key: the task's identity. Points of a sweep that share a stage share its task. */
  key: string;
  /** The stage's id in `experiment`'s graph, e.g. `teacher@s1`. */
  stageId: string;
  kind: string;
  /** The resolved experiment the stage belongs to; the worker re-plans its graph from it. */
  experiment: Experiment;
  /** Folder the experiment's relative data paths resolve against (shared by every worker). */
  baseDir: string;
  /** The backend the key was computed for; a worker refuses a task whose key it computes differently. */
  backend: BackendName;
  /** Keys of the tasks whose outputs this one reads. */
  deps: string[];
}

/** Tasks by key, with their keys in an order where every task follows its deps. */
export interface TaskPlan {
  tasks: Record<string, StageTask>;
  order: string[];
}

export type TaskStatus = 'ran' | 'cached' | 'failed' | 'skipped';

export interface TaskOutcome {
  key: string;
  stageId: string;
  status: TaskStatus;
  seconds: number;
  /** Who computed it, e.g. `local worker 2 (pid 123)` or a BullMQ worker's host and pid. */
  worker?: string;
  error?: string;
}

export type ExecutorEvent =
  { type: 'start'; task: StageTask; worker: string } | { type: 'progress'; key: string; message: string } | { type: 'end'; outcome: TaskOutcome };

export interface ExecuteOptions {
  onEvent?: (e: ExecutorEvent) => void;
  signal?: AbortSignal;
}

export interface Executor {
  /** `local` or `bullmq`, for messages. */
  readonly name: string;
  /** Computes every task of the plan (deps first); resolves with one outcome per task, never throws for a failed stage. */
  execute(plan: TaskPlan, opts?: ExecuteOptions): Promise<TaskOutcome[]>;
  /** Stops worker processes and connections. */
  close(): Promise<void>;
}

/** Messages between the local executor and its worker processes (over execa's IPC channel). */
/** `threads`: how many threads the worker's kernels may use from now on (its share of the cores). */
export type WorkerRequest = { type: 'task'; task: StageTask; threads: number } | { type: 'threads'; threads: number } | { type: 'exit' };
export type WorkerReply = { type: 'ready'; pid: number } | { type: 'progress'; key: string; message: string } | { type: 'done'; outcome: TaskOutcome };
