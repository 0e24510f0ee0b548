/**
 * How many threads kdq's wasm kernels may use (`--kernel-threads`), kept apart from the pool so
 * that the CLI can set it without loading any backend code. 1 runs every kernel on the calling
 * thread; 2 lets the kernels that split their work (src/backend/intra-op/) use a helper thread.
 */
import { availableParallelism } from 'node:os';
import { KdqError } from '../../errors.ts';

/** Most threads one kernel uses: one helper (this host, and kdq's target, has 2 cores). */
export const MAX_KERNEL_THREADS = 2;

let current = 1;
let held = 0;

/** Sets the thread count kernels use from their next call on. */
export function setKernelThreads(threads: number): void {
  if (!Number.isInteger(threads) || threads < 1 || threads > MAX_KERNEL_THREADS) {
    throw new KdqError('E_USAGE', `--kernel-threads must be a whole number from 1 to ${MAX_KERNEL_THREADS}, got ${threads}`);
  }
  current = threads;
}

/** The thread count kernels use now: 1 while something holds them to one thread. */
export function kernelThreads(): number {
  return held > 0 ? 1 : current;
}

/**
 * Keeps kernels on one thread until the returned function is called, whatever setKernelThreads
 * says meanwhile: data-parallel training (training.threads > 1) already has a thread per core.
 */
export function holdOneKernelThread(): () => void {
  held++;
  let released = false;
  return () => {
    if (!released) held--;
    released = true;
  };
}

/** `--kernel-threads auto`: one per core, at most MAX_KERNEL_THREADS. */
export function autoKernelThreads(cores = availableParallelism()): number {
  return Math.max(1, Math.min(MAX_KERNEL_THREADS, cores));
}

/**
 * Threads each running stage may use while `running` stages share `cores` cores and each may use
 * up to `max`: the cores shared out, never less than 1.
 */
export function kernelThreadsWhile(running: number, max: number, cores = availableParallelism()): number {
  return Math.max(1, Math.min(max, Math.floor(cores / Math.max(1, running))));
}
