import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Training tests share two cores; run files in forked processes so the wasm heap of one
    // file never leaks into another, and give tf.js time to warm up.
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
