/**
 * kdq's SIMD kernels (kernels.wat), instantiated inside the wasm backend's own memory so they work
 * on tensors in place. One instance per backend memory; `null` where WebAssembly SIMD is missing,
 * and the callers then use their plain JavaScript loops.
 */
import type * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { KERNELS_WASM_BASE64 } from './kernels-wasm.ts';

/** The module's exports; every pointer is a byte offset into the backend's memory. */
export interface SimdKernels {
  adam(
    w: number, g: number, m: number, v: number, w2: number, m2: number, v2: number, n: number,
    b1: number, b2: number, a1: number, a2: number, step: number, invC2: number, eps: number,
  ): void;
  relu_bias_grad(dy: number, y: number, dz: number, db: number, rows: number, channels: number): void;
  /** Returns how many (window, channel) pairs found no input equal to their maximum (NaN). */
  conv2d_filter_grad(
    x: number, dy: number, dw: number, n: number, h: number, w: number, cin: number, oh: number, ow: number, cout: number,
    fh: number, fw: number, sh: number, sw: number, top: number, left: number,
  ): void;
  max_pool_grad_2x2(x: number, y: number, dy: number, dx: number, n: number, h: number, w: number, c: number, oh: number, ow: number): number;
  /** out[m, n] = act(x[m, k] w[k, n] + b), n a multiple of 8; relu 1 or 0 (linear); `pack` is scratch of k * 8 floats. */
  /** dst[cols, rows] = transpose of src[rows, cols]. */
  transpose_2d(src: number, dst: number, rows: number, cols: number): void;
  dense_forward(x: number, w: number, b: number, out: number, pack: number, m: number, k: number, n: number, relu: number): void;
}

let compiled: WebAssembly.Module | null | undefined;
const instances = new WeakMap<WebAssembly.Memory, SimdKernels>();
let disabled = false;

/** The compiled module, or null when this runtime cannot run WebAssembly SIMD. */
function module(): WebAssembly.Module | null {
  if (compiled === undefined) {
    const bytes = Buffer.from(KERNELS_WASM_BASE64, 'base64');
    compiled = WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null;
  }
  return compiled;
}

/** The backend's WebAssembly.Memory (Emscripten keeps the instance's exports under `asm`). */
function backendMemory(backend: BackendWasm): WebAssembly.Memory | undefined {
  const exports = (backend.wasm as unknown as { asm?: { memory?: unknown } }).asm;
  return exports?.memory instanceof WebAssembly.Memory ? exports.memory : undefined;
}

/** The SIMD kernels bound to `backend`'s memory, or null when they cannot be used (or are disabled). */
export function simdKernels(backend: BackendWasm): SimdKernels | null {
  if (disabled) return null;
  const memory = backendMemory(backend);
  const mod = module();
  if (memory === undefined || mod === null) return null;
  let k = instances.get(memory);
  if (k === undefined) {
    k = new WebAssembly.Instance(mod, { env: { memory } }).exports as unknown as SimdKernels;
    instances.set(memory, k);
  }
  return k;
}

/** Turns the SIMD kernels off (or back on), for tests and benchmarks that compare both paths. */
export function setSimdEnabled(enabled: boolean): void {
  disabled = !enabled;
}

/** Byte offset of a tensor's data in the backend's memory. */
export function heapOffset(backend: BackendWasm, t: tf.TensorInfo): number {
  return (backend.dataIdMap.get(t.dataId) as unknown as { memoryOffset: number }).memoryOffset;
}
