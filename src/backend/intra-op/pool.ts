/**
 * A second thread inside one kernel: the helper runs kdq's SIMD kernels on the wasm backend's
 * shared memory (src/backend/shared-memory.ts) while the main thread runs its own share of the
 * same product, so one training step uses both cores. Each kernel splits its output between the
 * threads along lines its tiles already draw (the kernels in src/backend/wasm-kernels/), so every output value
 * is computed by the same instructions in the same order as on one thread: the bits do not
 * depend on the thread count.
 *
 * The threads meet through a control block in a SharedArrayBuffer, not through messages: posting
 * a message and waking a thread costs tens of microseconds, a kernel's share can be a few. The
 * helper spins on the block for a while after each call (the next kernel of a training step comes
 * within microseconds), then sleeps in Atomics.wait. The main thread spins until the helper is done
 * with its share (run), or with the calls it took (runClaimed): a helper that comes late to a
 * claimed split finds every call taken, and the main thread does not wait for it.
 */
import { Worker } from 'node:worker_threads';
import { KdqError } from '../../errors.ts';

/** The helper's control block, in 32-bit words. */
const POSTED = 0; // sequence number of the latest batch of calls; WRITING while the main thread rewrites the batch
const DONE = 1; // sequence number of the latest batch the helper finished
const COUNT = 2; // calls in the batch
const FAILED = 3; // 1 when a call threw; the message is in the text area
const SLEEPING = 4; // 1 while the helper is (about to be) in Atomics.wait
const STOP = 5; // 1: the helper returns
const SPIN_MICROS = 6; // how long the helper spins before it sleeps
const MODE = 7; // 0: the helper runs its calls in order; 1: it claims them from the back (runClaimed)

const CTL_WORDS = 16;
/** POSTED while the main thread writes a batch: a helper that reads it waits for the batch's number. */
const WRITING = -1;
/**
 * A claimed batch's calls: claims[i] is 4 s (free), 4 s + 1 (the main thread's), 4 s + 2 (the
 * helper's, running) or 4 s + 3 (the helper's, done) for batch s, so that a helper still on an
 * earlier batch can never take a call of this one. Batch numbers wrap below 2^29 to keep 4 s an int32.
 */
const SEQ_WRAP = 1 << 29;
const TEXT_BYTES = 1024;
/** Slots per call: the export's index, the argument count, the arguments, and last what it returned. */
export const CALL_SLOTS = 26;
export const MAX_CALLS = 2048;

/** One kernel call for the helper: an export of kdq's SIMD modules and its arguments. */
export type KernelCall = readonly [name: string, ...args: number[]];

/** The helper thread's whole program (CommonJS, evaluated). */
const HELPER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { memory, modules, names, ctl } = workerData;
// A helper that cannot start answers every call with why, instead of leaving the main thread waiting.
let startError;
let fns = [];
try {
  const exportsOf = Object.assign({}, ...modules.map((m) => new WebAssembly.Instance(m, { env: { memory } }).exports));
  fns = names.map((n) => exportsOf[n]);
} catch (e) {
  startError = e;
}
// One caller per argument count, reading the arguments in place (no array per call).
const callers = [];
for (let n = 0; n <= ${CALL_SLOTS} - 3; n++) {
  const list = Array.from({ length: n }, (_, j) => 'a[b + ' + (2 + j) + ']').join(', ');
  callers.push(new Function('f', 'a', 'b', 'return f(' + list + ');'));
}
const c = new Int32Array(ctl, 0, ${CTL_WORDS});
const text = new Uint8Array(ctl, ${CTL_WORDS * 4}, ${TEXT_BYTES});
const args = new Float64Array(ctl, ${CTL_WORDS * 4 + TEXT_BYTES}, ${MAX_CALLS * CALL_SLOTS});
const claims = new Int32Array(ctl, ${CTL_WORDS * 4 + TEXT_BYTES + MAX_CALLS * CALL_SLOTS * 8}, ${MAX_CALLS});
let seen = 0;
for (;;) {
  let posted = Atomics.load(c, ${POSTED});
  if (posted === seen || posted === ${WRITING}) {
    let start = performance.now();
    let spins = 0;
    while ((posted = Atomics.load(c, ${POSTED})) === seen || posted === ${WRITING}) {
      if ((++spins & 1023) === 0 && (performance.now() - start) * 1000 > Atomics.load(c, ${SPIN_MICROS})) {
        Atomics.store(c, ${SLEEPING}, 1);
        Atomics.wait(c, ${POSTED}, posted);
        Atomics.store(c, ${SLEEPING}, 0);
        start = performance.now();
      }
    }
  }
  if (Atomics.load(c, ${STOP}) === 1) break;
  const count = Atomics.load(c, ${COUNT});
  const claiming = Atomics.load(c, ${MODE}) === 1;
  // The batch may have moved on while its count and mode were read: read them again.
  if (Atomics.load(c, ${POSTED}) !== posted) continue;
  seen = posted;
  const free = 4 * posted;
  for (let j = 0; j < count; j++) {
    // claiming: from the back, each call taken from the main thread's reach first; a call of a
    // batch the main thread already finished is never free
    const i = claiming ? count - 1 - j : j;
    if (claiming && Atomics.compareExchange(claims, i, free, free + 2) !== free) break;
    const base = i * ${CALL_SLOTS};
    let failed = false;
    try {
      if (startError !== undefined) throw new Error('the helper thread could not start: ' + (startError.message || startError));
      const r = callers[args[base + 1]](fns[args[base]], args, base);
      args[base + ${CALL_SLOTS} - 1] = typeof r === 'number' ? r : 0;
    } catch (e) {
      // reported before the call is marked done: the main thread reads FAILED after that
      const bytes = new TextEncoder().encode(String(e && e.message ? e.message : e)).subarray(0, ${TEXT_BYTES - 4});
      new Int32Array(ctl, ${CTL_WORDS * 4}, 1)[0] = bytes.length;
      text.set(bytes, 4);
      Atomics.store(c, ${FAILED}, 1);
      failed = true;
    }
    if (claiming) Atomics.store(claims, i, free + 3);
    if (failed) break;
  }
  Atomics.store(c, ${DONE}, posted);
}
`;

/**
 * Whether splitting pays, judged from what the splits cost. A split pays when the main thread,
 * having done its share, waits less for the helper than its share took: doing both shares alone
 * would have taken about twice its share. On a host whose second core is busy (another process,
 * or a hypervisor that runs the VM's two cores in turn) the helper starts late and the wait is
 * long; then kernels run on one thread for a while (1 s, doubling while it lasts, at most a
 * minute) and try again. Either way the bits are the same.
 */
export class SplitGovernor {
  private mainMs = 0;
  private waitMs = 0;
  private count = 0;
  private offUntil = 0;
  private pauseMs: number;
  /** How many times splitting was paused. */
  pauses = 0;

  constructor(
    private readonly window = 256,
    private readonly firstPauseMs = 1000,
    private readonly maxPauseMs = 60_000,
  ) {
    this.pauseMs = firstPauseMs;
  }

  /** Whether kernels should split at time `now` (ms). */
  allows(now: number): boolean {
    return now >= this.offUntil;
  }

  /** One split: the main thread's share took `mainMs`, then it waited `waitMs` for the helper. */
  record(mainMs: number, waitMs: number, now: number): void {
    this.mainMs += mainMs;
    this.waitMs += waitMs;
    if (++this.count < this.window) return;
    if (this.waitMs > this.mainMs) {
      this.offUntil = now + this.pauseMs;
      this.pauseMs = Math.min(this.pauseMs * 2, this.maxPauseMs);
      this.pauses++;
    } else {
      this.pauseMs = this.firstPauseMs;
    }
    this.mainMs = 0;
    this.waitMs = 0;
    this.count = 0;
  }
}

/** How long the main thread waits for the helper before it calls the helper lost. */
const LOST_AFTER_MS = 120_000;

export class IntraOpPool {
  private readonly ctl = new SharedArrayBuffer(CTL_WORDS * 4 + TEXT_BYTES + MAX_CALLS * CALL_SLOTS * 8 + MAX_CALLS * 4);
  private readonly c = new Int32Array(this.ctl, 0, CTL_WORDS);
  private readonly args = new Float64Array(this.ctl, CTL_WORDS * 4 + TEXT_BYTES, MAX_CALLS * CALL_SLOTS);
  /** Per call of runClaimed: whose it is, tagged with the batch's number (SEQ_WRAP). */
  private readonly claims = new Int32Array(this.ctl, CTL_WORDS * 4 + TEXT_BYTES + MAX_CALLS * CALL_SLOTS * 8, MAX_CALLS);
  private readonly index: Map<string, number>;
  private readonly worker: Worker;
  private seq = 0;
  private closed = false;
  /** How many times run() shared work with the helper (tests check that a split happened). */
  splits = 0;
  /** Claimed splits the main thread finished alone, the helper not having come (it is not waited for). */
  helperless = 0;
  /** Decides whether splits pay on this host now (see SplitGovernor). */
  governor = new SplitGovernor();

  /**
   * @param memory the wasm backend's memory (shared)
   * @param modules kdq's SIMD modules compiled for a shared memory
   * @param names every export the helper may be asked to run
   */
  constructor(memory: WebAssembly.Memory, modules: WebAssembly.Module[], names: readonly string[], spinMicros = 2000) {
    this.index = new Map(names.map((n, i) => [n, i]));
    this.c[SPIN_MICROS] = spinMicros;
    this.worker = new Worker(HELPER_SOURCE, { eval: true, workerData: { memory, modules, names: [...names], ctl: this.ctl } });
    // The helper holds no event-loop work of its own; it must not keep the process alive.
    this.worker.unref();
  }

  /**
   * Runs `calls` on the helper while `main` runs on this thread; returns once both are done.
   * Throws KdqError E_INTERNAL when a helper call threw (a wasm trap) or the helper is gone.
   */
  run(calls: readonly KernelCall[], main: () => void): void {
    this.meet(calls, main);
  }

  /**
   * Runs each of `calls` once, on one thread or the other: this thread takes them from the front
   * (`main(i)` runs its own version of call i, which may differ in scratch), the helper from the
   * back, each claiming the next with an atomic exchange, until they meet. A helper that starts
   * late or runs slow leaves more of them to this thread. Returns the sum of what the calls
   * returned. The calls must not depend on each other.
   */
  runClaimed(calls: readonly KernelCall[], main: (i: number) => number): number {
    const seq = this.post(calls, 1);
    const free = 4 * seq;
    let sum = 0;
    let mainError: unknown;
    const t0 = performance.now();
    try {
      for (let i = 0; i < calls.length; i++) {
        if (Atomics.compareExchange(this.claims, i, free, free + 1) !== free) break;
        sum += main(i);
      }
    } catch (e) {
      mainError = e;
      // take every call still free, so that the helper stops
      for (let i = 0; i < calls.length; i++) Atomics.compareExchange(this.claims, i, free, free + 1);
    }
    const t1 = performance.now();
    // Only the calls the helper is running: a helper that has not come yet takes none, and need
    // not be waited for (when it comes, it finds none free).
    for (let i = calls.length - 1; i >= 0; i--) {
      if (Atomics.load(this.claims, i) === free + 2) this.waitFor(() => Atomics.load(this.claims, i) !== free + 2);
    }
    const t2 = performance.now();
    let helped = false;
    for (let i = 0; i < calls.length; i++) {
      if (this.claims[i] === free + 3) {
        sum += this.result(i);
        helped = true;
      }
    }
    if (!helped) this.helperless++;
    // A split the helper missed gained nothing: to the governor it counts as a wait as long as
    // the work, so that a helper that keeps missing them turns splitting off, as waiting would.
    this.governor.record(t1 - t0, helped ? t2 - t1 : t1 - t0, t2);
    this.check(mainError);
    return sum;
  }

  /** Writes a batch of calls for the helper and posts it; returns its number. */
  private post(calls: readonly KernelCall[], mode: number): number {
    if (this.closed) throw new KdqError('E_INTERNAL', 'the intra-op thread pool is closed');
    if (calls.length > MAX_CALLS) throw new KdqError('E_INTERNAL', `at most ${MAX_CALLS} helper calls per split, got ${calls.length}`);
    // A helper still reading the previous batch's count and mode sees WRITING and reads again.
    Atomics.store(this.c, POSTED, WRITING);
    for (let i = 0; i < calls.length; i++) {
      const call = calls[i]!;
      const fn = this.index.get(call[0]);
      if (fn === undefined || call.length - 1 > CALL_SLOTS - 3)
        throw new KdqError('E_INTERNAL', `intra-op helper cannot run ${call[0]} with ${call.length - 1} arguments`);
      const base = i * CALL_SLOTS;
      this.args[base] = fn;
      this.args[base + 1] = call.length - 1;
      for (let j = 1; j < call.length; j++) this.args[base + 1 + j] = call[j] as number;
    }
    this.splits++;
    this.seq = (this.seq % (SEQ_WRAP - 1)) + 1;
    const seq = this.seq;
    if (mode === 1) this.claims.fill(4 * seq, 0, calls.length);
    Atomics.store(this.c, MODE, mode);
    Atomics.store(this.c, COUNT, calls.length);
    Atomics.store(this.c, POSTED, seq);
    if (Atomics.load(this.c, SLEEPING) === 1) Atomics.notify(this.c, POSTED);
    return seq;
  }

  private meet(calls: readonly KernelCall[], main: () => void): void {
    const seq = this.post(calls, 0);
    let mainError: unknown;
    const t0 = performance.now();
    try {
      main();
    } catch (e) {
      mainError = e;
    }
    const t1 = performance.now();
    this.waitFor(() => Atomics.load(this.c, DONE) === seq);
    const t2 = performance.now();
    this.governor.record(t1 - t0, t2 - t1, t2);
    this.check(mainError);
  }

  /** Rethrows the main thread's error, or the helper's. */
  private check(mainError: unknown): void {
    if (mainError !== undefined) throw mainError;
    if (Atomics.load(this.c, FAILED) === 1) {
      const len = new Int32Array(this.ctl, CTL_WORDS * 4, 1)[0]!;
      const message = new TextDecoder().decode(new Uint8Array(this.ctl, CTL_WORDS * 4 + 4, len).slice());
      Atomics.store(this.c, FAILED, 0);
      throw new KdqError('E_INTERNAL', `a kernel on the intra-op thread failed: ${message}; rerun with --kernel-threads 1`);
    }
  }

  /** What helper call `i` of the last run() returned (0 for a kernel without a result). */
  result(i: number): number {
    return this.args[i * CALL_SLOTS + CALL_SLOTS - 1]!;
  }

  /** Spins until `done()`; a helper silent for LOST_AFTER_MS is lost. */
  private waitFor(done: () => boolean): void {
    if (done()) return;
    const start = performance.now();
    let spins = 0;
    while (!done()) {
      if ((++spins & 0xfffff) === 0 && performance.now() - start > LOST_AFTER_MS) {
        this.closed = true;
        throw new KdqError('E_INTERNAL', `the intra-op thread did not answer for ${LOST_AFTER_MS / 1000} s; rerun with --kernel-threads 1`);
      }
    }
  }

  /** Stops the helper thread. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    Atomics.store(this.c, STOP, 1);
    Atomics.store(this.c, POSTED, ++this.seq);
    Atomics.notify(this.c, POSTED);
    await this.worker.terminate();
  }
}
