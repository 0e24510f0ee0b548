/**
 * Test helper: runs the same kernel on the cpu and wasm backends and compares the results.
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend/index.ts';

/** Deterministic values in [-1, 1) (or [0, 1) when `positive`), independent of any backend. */
export function values(n: number, seed: number, positive = false): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const u = s / 4294967296;
    out[i] = positive ? u : 2 * u - 1;
  }
  return out;
}

export interface Input {
  shape: number[];
  data: Float32Array | Int32Array;
  dtype?: 'float32' | 'int32';
}

/** Runs `kernel` with `inputs` and `attrs` on one backend; returns its output values and shape. */
export async function runOn(
  backend: 'cpu' | 'wasm',
  kernel: string,
  inputs: Record<string, Input>,
  attrs: Record<string, unknown>,
): Promise<{ shape: number[]; data: Float32Array | Int32Array }> {
  await initBackend(backend);
  const named: Record<string, tf.Tensor> = {};
  for (const [k, v] of Object.entries(inputs)) named[k] = tf.tensor(v.data, v.shape, v.dtype ?? 'float32');
  const out = tf.engine().runKernel(kernel, named, attrs as tf.NamedAttrMap) as tf.Tensor;
  const result = { shape: out.shape, data: out.dataSync() as Float32Array | Int32Array };
  out.dispose();
  for (const t of Object.values(named)) t.dispose();
  return result;
}

/** max |a - b| / max(max |b|, 1e-6). */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0;
  let scale = 1e-6;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}

/** Runs the kernel on both backends; returns the wasm result, the cpu result and their relative error. */
export async function compareKernel(kernel: string, inputs: Record<string, Input>, attrs: Record<string, unknown>) {
  const cpu = await runOn('cpu', kernel, inputs, attrs);
  const wasm = await runOn('wasm', kernel, inputs, attrs);
  return { cpu, wasm, error: relativeError(wasm.data, cpu.data) };
}
