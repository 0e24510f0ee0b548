/**
 * kdq's SIMD kernels (kernels.wat), instantiated inside the wasm backend's own memory so they work
 * on tensors in place. One instance per backend memory; `null` where WebAssembly SIMD is missing,
 * and the callers then use their plain JavaScript loops.
 */
import type * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import v8 from 'node:v8';
import type { SimdVariant } from '../../names.ts';
import { KERNELS_FMA_WASM_BASE64, KERNELS_WASM_BASE64 } from './kernels-wasm.ts';

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
  dense_forward(x: number, w: number, b: number, out: number, pack: number, m: number, k: number, n: number, relu: number): void;
  /** c[K, N] = a[R, K]^T b[R, N]; N a multiple of 8. */
  matmul_tn(a: number, b: number, c: number, R: number, K: number, N: number): void;
  /** c[R, K] = a[R, N] b[K, N]^T; N a multiple of 4. */
  matmul_nt(a: number, b: number, c: number, R: number, K: number, N: number): void;
  /** dst[cols, rows] = transpose of src[rows, cols]. */
  transpose_2d(src: number, dst: number, rows: number, cols: number): void;
}

export type { SimdVariant };

const compiled = new Map<'fma' | 'plain', WebAssembly.Module | null>();
const instances = new Map<'fma' | 'plain', WeakMap<WebAssembly.Memory, SimdKernels>>();
let disabled = false;
let forced: 'fma' | 'plain' | undefined;

/**
 * Whether this runtime validates relaxed SIMD. Node 22 ships it; Node 20's V8 (11.3) has it behind
 * --experimental-wasm-relaxed-simd, which is switched on here (it only lets the decoder accept the
 * relaxed opcodes) before the module is compiled.
 */
function relaxedSimdAvailable(bytes: Uint8Array<ArrayBuffer>): boolean {
  if (WebAssembly.validate(bytes)) return true;
  try {
    v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
  } catch {
    return false;
  }
  return WebAssembly.validate(bytes);
}

/** The compiled module of `variant`, or null when this runtime cannot run it. */
function module(variant: 'fma' | 'plain'): WebAssembly.Module | null {
  let mod = compiled.get(variant);
  if (mod === undefined) {
    const bytes = new Uint8Array(Buffer.from(variant === 'fma' ? KERNELS_FMA_WASM_BASE64 : KERNELS_WASM_BASE64, 'base64'));
    const ok = variant === 'fma' ? relaxedSimdAvailable(bytes) : WebAssembly.validate(bytes);
    mod = ok ? new WebAssembly.Module(bytes) : null;
    compiled.set(variant, mod);
  }
  return mod;
}

/**
 * The kernels' build this process uses: `fma` where relaxed SIMD validates, else `plain` where
 * SIMD does, else `none` (the callers' JavaScript loops). FMA rounds once where mul + add round
 * twice, so the two builds train to different bits: the variant is part of every stage key.
 */
export function simdVariant(): SimdVariant {
  if (disabled) return 'none';
  if (forced !== undefined) return module(forced) === null ? 'none' : forced;
  if (module('fma') !== null) return 'fma';
  return module('plain') === null ? 'none' : 'plain';
}

/** The backend's WebAssembly.Memory (Emscripten keeps the instance's exports under `asm`). */
function backendMemory(backend: BackendWasm): WebAssembly.Memory | undefined {
  const exports = (backend.wasm as unknown as { asm?: { memory?: unknown } }).asm;
  return exports?.memory instanceof WebAssembly.Memory ? exports.memory : undefined;
}

/** The SIMD kernels bound to `backend`'s memory, or null when they cannot be used (or are disabled). */
export function simdKernels(backend: BackendWasm): SimdKernels | null {
  const variant = simdVariant();
  if (variant === 'none') return null;
  const memory = backendMemory(backend);
  const mod = module(variant);
  if (memory === undefined || mod === null) return null;
  let byMemory = instances.get(variant);
  if (byMemory === undefined) {
    byMemory = new WeakMap();
    instances.set(variant, byMemory);
  }
  let k = byMemory.get(memory);
  if (k === undefined) {
    k = new WebAssembly.Instance(mod, { env: { memory } }).exports as unknown as SimdKernels;
    byMemory.set(memory, k);
  }
  return k;
}

/** Turns the SIMD kernels off (or back on), for tests and benchmarks that compare both paths. */
export function setSimdEnabled(enabled: boolean): void {
  disabled = !enabled;
}

/** Forces one build of the kernels (undefined: the best this runtime validates), for tests and benchmarks. */
export function forceSimdVariant(variant: 'fma' | 'plain' | undefined): void {
  forced = variant;
}

/** Byte offset of a tensor's data in the backend's memory. */
export function heapOffset(backend: BackendWasm, t: tf.TensorInfo): number {
  return (backend.dataIdMap.get(t.dataId) as unknown as { memoryOffset: number }).memoryOffset;
}
