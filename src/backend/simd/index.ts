/**
 * kdq's SIMD kernels (the .wat modules of this folder), instantiated inside the wasm backend's own
 * memory so they work on tensors in place. One instance of each module per backend memory, their
 * exports merged; `null` where WebAssembly SIMD is missing, and the callers then use their plain
 * JavaScript loops (or the stock kernels).
 */
import type * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import v8 from 'node:v8';
import type { SimdVariant } from '../../names.ts';
import { SIMD_MODULE_BYTES } from './kernels-wasm.ts';
import { isShared, withSharedMemory } from '../shared-memory.ts';

/** The module's exports; every pointer is a byte offset into the backend's memory. */
export interface SimdKernels {
  adam(
    w: number,
    g: number,
    m: number,
    v: number,
    w2: number,
    m2: number,
    v2: number,
    n: number,
    b1: number,
    b2: number,
    a1: number,
    a2: number,
    step: number,
    invC2: number,
    eps: number,
  ): void;
  relu_bias_grad(dy: number, y: number, dz: number, db: number, rows: number, channels: number): void;
  /** Returns how many (window, channel) pairs found no input equal to their maximum (NaN). */
  /** y = the maximum of each 2x2 window at stride 2 of images [0, n), no padding, C a multiple of 4. */
  max_pool_2x2(x: number, y: number, n: number, h: number, w: number, c: number, oh: number, ow: number): void;
  max_pool_grad_2x2(x: number, y: number, dy: number, dx: number, n: number, h: number, w: number, c: number, oh: number, ow: number): number;
  max_pool_2x2_arg(x: number, y: number, arg: number, n: number, h: number, w: number, c: number, oh: number, ow: number): number;
  /** dz of a relu convolution then 2x2 max pool, from the pool's output, routing bytes and gradient (KdqConvReluPool). */
  unpool_relu_grad(dy: number, y: number, arg: number, dz: number, n: number, h: number, w: number, c: number, oh: number, ow: number): void;
  /** Its bias gradient, from the pooled values alone, summed in the order of dz's pixels. */
  pooled_bias_grad(dy: number, y: number, arg: number, db: number, n: number, c: number, oh: number, ow: number): void;
  /** out[m, n] = act(x[m, k] w[k, n] + b), n a multiple of 8; relu 1 or 0 (linear); `pack` is scratch of k * 8 floats. */
  /** Columns [n0, n1) of it only (multiples of 8, or n1 = n). */
  dense_forward(x: number, w: number, b: number, out: number, pack: number, m: number, k: number, n: number, n0: number, n1: number, relu: number): void;
  /** c[K, N] = a[R, K]^T b[R, N]; N a multiple of 8. */
  /** Rows [k0, k1) of c only (k0 a multiple of 4, k1 too or K). */
  matmul_tn(a: number, b: number, c: number, R: number, K: number, N: number, k0: number, k1: number): void;
  /** c[R, K] = a[R, N] b[K, N]^T; N a multiple of 4. */
  /** Columns [k0, k1) of c only (k0 a multiple of 4, k1 too or K). */
  matmul_nt(a: number, b: number, c: number, R: number, K: number, N: number, k0: number, k1: number): void;
  /** dst[cols, rows] = transpose of src[rows, cols]. */
  transpose_2d(src: number, dst: number, rows: number, cols: number): void;

  // gemm.wat: convolutions as products of im2col blocks (see wasm-kernels/conv-gemm.ts).
  /**
   * Rows [p0, p0 + rows) of x's im2col matrix (x's bytes end at xEnd) into buf (rows ld bytes apart;
   * scatter 0; may write 12 bytes past a row: leave 16 bytes of slack), or buf added back into x (scatter 1).
   */
  im2col(
    x: number,
    xEnd: number,
    buf: number,
    ld: number,
    p0: number,
    rows: number,
    scatter: number,
    h: number,
    w: number,
    c: number,
    oh: number,
    ow: number,
    fh: number,
    fw: number,
    sh: number,
    sw: number,
    top: number,
    left: number,
  ): void;
  /**
   * Output pixels [p0, p0 + rows) of act(conv(x) + bias) into y, reading x in place where it can;
   * scratch tb (rows K floats + 16 bytes), tbl (5 ceil(rows / 4) i32); returns 0. With flag 8,
   * pooled pixels [p0, p0 + rows) of maxPool2x2(relu(conv(x) + bias)) into y and max_pool_2x2_arg's
   * routing bytes into arg (not with flag 4), never writing the convolution's output; scratch tb
   * (4 rows K floats + 16 bytes), tbl (5 rows i32); returns the count of NaN maxima.
   */
  conv_direct(
    x: number,
    xEnd: number,
    bp: number,
    bias: number,
    y: number,
    arg: number,
    tb: number,
    tbl: number,
    flags: number,
    p0: number,
    rows: number,
    h: number,
    w: number,
    c: number,
    oh: number,
    ow: number,
    n: number,
    fh: number,
    fw: number,
    sh: number,
    sw: number,
    top: number,
    left: number,
  ): number;
  /** B[K, N] (rows ldb bytes apart, or the transpose of src[N, K]) into 8-column panels at dst: K packedColumns(N) floats. */
  pack_b(src: number, ldb: number, transposed: number, dst: number, k: number, n: number): void;
  /** c[M, N] = act(a[M, K] B + bias), B packed; flags 1 bias, 2 relu. */
  gemm(a: number, lda: number, bp: number, bias: number, c: number, ldc: number, m: number, k: number, n: number, flags: number): void;
  /** dst[fh-1-kh, fw-1-kw, co, ci] = src[kh, kw, ci, co]. */
  flip_filter(src: number, dst: number, fh: number, fw: number, cin: number, cout: number): void;
  /** c[K, N] (+)= a[R, K]^T b[R, N], N a multiple of 4. */
  gemm_tn(a: number, lda: number, b: number, ldb: number, c: number, ldc: number, r: number, k: number, n: number, accumulate: number): void;
  /** U = G g G^T of the 3x3 filter g [3, 3, c, n] into the 16 packed panels `winograd` reads at u. */
  wino_filter(g: number, u: number, c: number, n: number): void;
  /**
   * A 3x3 stride-1 convolution by Winograd F(2x2, 3x3) over tiles [t0, t1) in blocks of m tiles;
   * `u` holds the transformed filter's 16 packed panels, `buf` the thread's scratch.
   */
  winograd(
    x: number,
    buf: number,
    u: number,
    bias: number,
    y: number,
    flags: number,
    t0: number,
    t1: number,
    m: number,
    h: number,
    w: number,
    c: number,
    n: number,
    oh: number,
    ow: number,
    th: number,
    tw: number,
    top: number,
    left: number,
  ): void;
  /** gemm_tn over the im2col rows [p0, p0 + r) of x [n, hp, wp, c] without writing them (every tap inside x), rows [k0, k4) of out. */
  filter_grad_direct(
    x: number,
    hp: number,
    wp: number,
    c: number,
    oh: number,
    ow: number,
    sh: number,
    sw: number,
    fw: number,
    k: number,
    k0: number,
    k4: number,
    p0: number,
    r: number,
    b: number,
    ldb: number,
    out: number,
    ldc: number,
    n: number,
    accumulate: number,
  ): void;

  // norm.wat: batch normalization and relu (see wasm-kernels/batch-norm.ts, relu.ts); channels in fours.
  /** parts[b][c] = sum over block b (256 rows) of x[r, c] (mode 0) or (x - mean)^2 (mode 1), for the blocks of x[rows, C]. */
  channel_partials(x: number, mean: number, rows: number, c: number, mode: number, parts: number): void;
  /** sum[c] = the nb blocks' partials added from 0 in block order, divided by n unless n is 0. */
  sum_partials(parts: number, nb: number, c: number, sum: number, n: number): void;
  /** mode 0: out = (x - mean) scale + k1; mode 1: out = x2 scale + (x - mean) k2 + k1. */
  bn_apply(x: number, x2: number, out: number, rows: number, c: number, mode: number, mean: number, scale: number, k1: number, k2: number): void;
  /** Per block of 256 rows: partsDy[b] = sum dy, partsDyXm[b] = sum dy (x - mean), per channel, in one pass. */
  grad_partials(dy: number, x: number, mean: number, rows: number, c: number, partsDy: number, partsDyXm: number): void;
  /** dx = dy where y > 0, else 0, n a multiple of 4. */
  relu_grad(dy: number, y: number, dx: number, n: number): void;

  // spatial.wat: depthwise convolution (multiplier 1) and average pooling's gradient; channels in fours.
  /**
   * mode 0: out = act(bias + sum over taps of in f); 1: in += out f; 2: f += in out; 3: in += out scale
   * (flags 1 bias, 2 relu), over every output pixel and every filter tap inside the image.
   */
  depthwise(
    input: number,
    f: number,
    bias: number,
    out: number,
    mode: number,
    flags: number,
    scale: number,
    n: number,
    h: number,
    w: number,
    c: number,
    cw: number,
    oh: number,
    ow: number,
    fh: number,
    fw: number,
    sh: number,
    sw: number,
    top: number,
    left: number,
  ): void;
}

export type { SimdVariant };

type ModuleName = keyof typeof SIMD_MODULE_BYTES;
const MODULE_NAMES = Object.keys(SIMD_MODULE_BYTES) as ModuleName[];

/** Each variant's compiled modules (unshared and shared), or null when this runtime cannot run them. */
const compiled = new Map<string, WebAssembly.Module[] | null>();
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

/**
 * The compiled modules of `variant`, importing a shared memory when `shared` (for a backend whose
 * memory is shared, src/backend/shared-memory.ts), or null when this runtime cannot run them.
 */
export function compiledModules(variant: 'fma' | 'plain', shared = false): WebAssembly.Module[] | null {
  const key = `${variant}${shared ? ' shared' : ''}`;
  let mods = compiled.get(key);
  if (mods === undefined) {
    // The unshared build first: checking it switches relaxed SIMD on where Node needs a flag.
    mods = shared && compiledModules(variant) === null ? null : [];
    for (const name of mods === null ? [] : MODULE_NAMES) {
      const unshared = new Uint8Array(Buffer.from(SIMD_MODULE_BYTES[name][variant], 'base64'));
      const bytes = shared ? withSharedMemory(unshared) : unshared;
      const ok = bytes !== null && (variant === 'fma' && !shared ? relaxedSimdAvailable(bytes) : WebAssembly.validate(bytes));
      if (!ok) {
        mods = null;
        break;
      }
      mods!.push(new WebAssembly.Module(bytes!));
    }
    compiled.set(key, mods);
  }
  return mods;
}

/**
 * The kernels' build this process uses: `fma` where relaxed SIMD validates, else `plain` where
 * SIMD does, else `none` (the callers' JavaScript loops). FMA rounds once where mul + add round
 * twice, so the two builds train to different bits: the variant is part of every stage key.
 */
export function simdVariant(): SimdVariant {
  if (disabled) return 'none';
  if (forced !== undefined) return compiledModules(forced) === null ? 'none' : forced;
  if (compiledModules('fma') !== null) return 'fma';
  return compiledModules('plain') === null ? 'none' : 'plain';
}

/** The backend's WebAssembly.Memory (Emscripten keeps the instance's exports under `asm`). */
export function backendMemory(backend: BackendWasm): WebAssembly.Memory | undefined {
  const exports = (backend.wasm as unknown as { asm?: { memory?: unknown } }).asm;
  return exports?.memory instanceof WebAssembly.Memory ? exports.memory : undefined;
}

/** The SIMD kernels bound to `backend`'s memory, or null when they cannot be used (or are disabled). */
export function simdKernels(backend: BackendWasm): SimdKernels | null {
  const variant = simdVariant();
  if (variant === 'none') return null;
  const memory = backendMemory(backend);
  if (memory === undefined) return null;
  const mods = compiledModules(variant, isShared(memory));
  if (mods === null) return null;
  let byMemory = instances.get(variant);
  if (byMemory === undefined) {
    byMemory = new WeakMap();
    instances.set(variant, byMemory);
  }
  let k = byMemory.get(memory);
  if (k === undefined) {
    k = Object.assign({}, ...mods.map((m) => new WebAssembly.Instance(m, { env: { memory } }).exports)) as SimdKernels;
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
/** Columns pack_b's panels hold for n columns of B: n rounded up to whole 8-column panels. */
export function packedColumns(n: number): number {
  return Math.ceil(n / 8) * 8;
}

export function heapOffset(backend: BackendWasm, t: tf.TensorInfo): number {
  return (backend.dataIdMap.get(t.dataId) as unknown as { memoryOffset: number }).memoryOffset;
}
