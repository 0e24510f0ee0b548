import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Training tests share two cores; run files in forked processes so the wasm heap of one
    // file never leaks into another, and give tf.js time to warm up.
    pool: 'forks',
    // Vitest's default is one worker fewer than the CPUs: a single worker on a 2-core machine,
    // where most files wait on child processes or I/O anyway. Two keep both cores busy.
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
