/**
 * Per-kernel time of a training step (`npm run bench -- --profile`): every kernel registered for a
 * backend is re-registered with a wrapper that times its `kernelFunc`. Kernels on wasm run
 * synchronously, so the wall time of the call is the kernel's time. Times are exclusive: a kernel
 * that runs another through the engine is charged only for its own part.
 */
import * as tf from '@tensorflow/tfjs';

/** One kernel's share of the profiled steps. */
export interface KernelTime {
  kernel: string;
  calls: number;
  /** Total exclusive milliseconds over all profiled steps. */
  ms: number;
  /** Exclusive milliseconds in each step (`endStep` closes a step), in order. */
  perStep: number[];
}

export interface KernelProfiler {
  /** Clears the counters (call after warm-up). */
  reset(): void;
  /** Closes the current step: the time since the previous call is one step's. */
  endStep(): void;
  /** The kernels by time spent, slowest first. */
  table(): KernelTime[];
  /** Restores the original kernels. */
  uninstall(): void;
}

/**
 * Wraps every kernel of `backendName` with a timer. The wrappers keep each kernel's `setupFunc`
 * and `disposeFunc`, so installing after the backend is initialised is safe.
 */
export function installKernelProfiler(backendName: string): KernelProfiler {
  const totals = new Map<string, { calls: number; ms: number; perStep: number[]; step: number }>();
  let steps = 0;
  // Child time to subtract from the enclosing kernel, one entry per kernel on the call stack.
  const childMs: number[] = [];
  const originals = tf.getKernelsForBackend(backendName);
  for (const config of originals) {
    const inner = config.kernelFunc;
    const name = config.kernelName;
    const timed: tf.KernelFunc = (args) => {
      childMs.push(0);
      const t0 = performance.now();
      try {
        return inner(args);
      } finally {
        const total = performance.now() - t0;
        const own = total - childMs.pop()!;
        if (childMs.length > 0) childMs[childMs.length - 1] += total;
        const entry = totals.get(name) ?? { calls: 0, ms: 0, perStep: [], step: 0 };
        entry.calls++;
        entry.ms += own;
        entry.step += own;
        totals.set(name, entry);
      }
    };
    tf.unregisterKernel(name, backendName);
    tf.registerKernel({ ...config, kernelFunc: timed });
  }
  return {
    reset: () => {
      totals.clear();
      steps = 0;
    },
    endStep: () => {
      steps++;
      for (const t of totals.values()) {
        // a kernel first seen in this step ran in no earlier one
        while (t.perStep.length < steps - 1) t.perStep.push(0);
        t.perStep.push(t.step);
        t.step = 0;
      }
    },
    table: () => [...totals.entries()].map(([kernel, t]) => ({ kernel, calls: t.calls, ms: t.ms, perStep: [...t.perStep] })).sort((a, b) => b.ms - a.ms),
    uninstall: () => {
      for (const config of originals) {
        tf.unregisterKernel(config.kernelName, backendName);
        tf.registerKernel(config);
      }
    },
  };
}
