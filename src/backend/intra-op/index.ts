/**
 * Whether kdq's wasm kernels split their work with a second thread (`--kernel-threads`), and the pool
 * that does it. The split never changes a result's bits (see pool.ts), so the thread count is
 * not part of any stage key: it is a way of running, like `--jobs`.
 */
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { isShared } from '../shared-memory.ts';
import { backendMemory, compiledModules, simdVariant, type SimdKernels } from '../simd/index.ts';
import { IntraOpPool, MAX_CALLS, type KernelCall } from './pool.ts';
import { kernelThreads } from './threads.ts';

export { IntraOpPool, SplitGovernor, type KernelCall } from './pool.ts';
export { autoKernelThreads, holdOneKernelThread, kernelThreads, kernelThreadsWhile, MAX_KERNEL_THREADS, setKernelThreads } from './threads.ts';

let pool: IntraOpPool | null = null;
let poolMemory: WebAssembly.Memory | undefined;

/**
 * The pool for `backend`'s memory when kernels should split now, else null (one thread asked for,
 * a memory that is not shared, or no SIMD kernels). The helper starts on first use.
 */
export function intraOp(backend: BackendWasm): IntraOpPool | null {
  if (kernelThreads() < 2) return null;
  const memory = backendMemory(backend);
  if (memory === undefined || !isShared(memory)) return null;
  if (pool === null || poolMemory !== memory) {
    const fresh = startPool(memory);
    if (fresh === null) return null;
    void pool?.close();
    pool = fresh;
    poolMemory = memory;
  }
  return pool.governor.allows(performance.now()) ? pool : null;
}

/**
 * A new pool whose helper runs this process's build of kdq's SIMD modules on `memory`, or null
 * without one. intraOp keeps one per backend memory; tests start others (`spinMicros`: how long
 * the helper spins after each batch before it sleeps).
 */
export function startPool(memory: WebAssembly.Memory, spinMicros?: number): IntraOpPool | null {
  const variant = simdVariant();
  const modules = variant === 'none' ? null : compiledModules(variant, true);
  if (modules === null) return null;
  const names = modules.flatMap((m) =>
    WebAssembly.Module.exports(m)
      .filter((e) => e.kind === 'function')
      .map((e) => e.name),
  );
  return new IntraOpPool(memory, modules, names, spinMicros);
}

/** Stops the helper thread, if one was started. */
export async function closeIntraOp(): Promise<void> {
  const p = pool;
  pool = null;
  poolMemory = undefined;
  await p?.close();
}

/**
 * Where to split `total` items between two threads: a multiple of `align` near the middle, or 0
 * when there is not a whole aligned block for each thread.
 */
export function splitPoint(total: number, align: number): number {
  const mid = Math.round(total / (2 * align)) * align;
  return mid > 0 && mid < total ? mid : 0;
}

/** Multiply-adds below which a product runs on one thread: the meeting costs a few microseconds. */
export const MIN_SPLIT_MACS = 1 << 17;

/** Runs `calls` on this thread, in order; returns the sum of what they returned (0 for kernels without a result). */
export function runCalls(simd: SimdKernels, calls: readonly KernelCall[]): number {
  const fns = simd as unknown as Record<string, (...args: number[]) => unknown>;
  let sum = 0;
  for (const call of calls) {
    const r = fns[call[0]]!(...(call.slice(1) as number[]));
    if (typeof r === 'number') sum += r;
  }
  return sum;
}

/**
 * Runs `main` on this thread while the pool's helper runs `helper`; without a pool, both here
 * (main first). Either way every call computes the same values: only the thread differs. Returns
 * the sum of what all the calls returned.
 */
export function runSplit(pool: IntraOpPool | null, simd: SimdKernels, main: readonly KernelCall[], helper: readonly KernelCall[]): number {
  if (pool === null || helper.length === 0) return runCalls(simd, main) + runCalls(simd, helper);
  // More calls than the control block holds (many small blocks, a large batch): in rounds, each
  // thread's calls still in their order.
  let sum = 0;
  const rounds = Math.ceil(helper.length / MAX_CALLS);
  for (let r = 0; r < rounds; r++) {
    const mine = main.slice(Math.ceil((main.length * r) / rounds), Math.ceil((main.length * (r + 1)) / rounds));
    const theirs = helper.slice(r * MAX_CALLS, (r + 1) * MAX_CALLS);
    pool.run(theirs, () => (sum += runCalls(simd, mine)));
    for (let i = 0; i < theirs.length; i++) sum += pool.result(i);
  }
  return sum;
}

/**
 * How many units a kernel with no natural blocks (a product's rows or columns) is cut into for
 * runShared: enough that the thread done first can take over part of a late one's share.
 */
const SHARED_UNITS = 16;

/** A unit of runShared: one kernel call as this thread runs it and as the helper does (they may differ in scratch). */
export type SharedUnit = readonly [main: KernelCall, helper: KernelCall];

/**
 * Runs independent units once each, on either thread (IntraOpPool.runClaimed): this thread from
 * the front, the helper from the back, so a helper that starts late or runs slow leaves more to
 * this thread; without a pool, all here in order. Each unit computes the same values on either
 * thread. Returns the sum of what the calls returned.
 */
export function runShared(pool: IntraOpPool | null, simd: SimdKernels, units: readonly SharedUnit[]): number {
  if (pool === null || units.length < 2)
    return runCalls(
      simd,
      units.map((u) => u[0]),
    );
  let sum = 0;
  for (let r = 0; r < units.length; r += MAX_CALLS) {
    const round = units.slice(r, r + MAX_CALLS);
    sum += pool.runClaimed(
      round.map((u) => u[1]),
      (i) => runCalls(simd, [round[i]![0]]),
    );
  }
  return sum;
}

/**
 * Runs `part(from, to)` over [0, end): with a pool, cut into up to SHARED_UNITS ranges, each a
 * multiple of `align` long but the last, and shared out by runShared; without, in one call.
 * For kernels whose ranges are independent (element-wise passes, images, rows, whole blocks of
 * a sum, a product's rows or columns). `part`'s third argument says whether the call is the
 * helper's, for kernels whose scratch differs by thread. `alongside`, a call that neither reads
 * what the parts write nor writes what they read, runs once, as a unit of its own that the main
 * thread takes first (after the parts without a pool). Returns the sum of what the calls returned.
 */
export function shareRange(
  pool: IntraOpPool | null,
  simd: SimdKernels,
  end: number,
  align: number,
  part: (from: number, to: number, helper: boolean) => KernelCall,
  alongside?: KernelCall,
): number {
  if (pool === null || end <= align) return runCalls(simd, alongside === undefined ? [part(0, end, false)] : [part(0, end, false), alongside]);
  const step = Math.max(align, Math.ceil(end / SHARED_UNITS / align) * align);
  const units: SharedUnit[] = alongside === undefined ? [] : [[alongside, alongside]];
  for (let from = 0; from < end; from += step) {
    const to = Math.min(end, from + step);
    units.push([part(from, to, false), part(from, to, true)]);
  }
  return runShared(pool, simd, units);
}

/** Elements below which an element-wise kernel runs on one thread. */
export const MIN_SPLIT_ELEMENTS = 1 << 14;
