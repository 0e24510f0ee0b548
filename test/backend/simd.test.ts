import { existsSync, readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.ts';
import { SIMD_MODULE_BYTES } from '../../src/backend/simd/kernels-wasm.ts';
import { forceSimdVariant, heapOffset, setSimdEnabled, simdKernels, simdVariant } from '../../src/backend/simd/index.ts';
import { ADAM_UPDATE } from '../../src/backend/wasm-kernels/adam-update.ts';
import { RELU_BIAS_GRAD } from '../../src/backend/wasm-kernels/relu-bias-grad.ts';
import { FUSED_DENSE } from '../../src/backend/wasm-kernels/fused-layers.ts';
import { release, transpose2d } from '../../src/backend/wasm-kernels/wasm-heap.ts';
import { compileAll, generatedSource, lowerRelaxedMadd, SIMD_MODULES, watFile } from '../../scripts/build-simd.ts';
import { compareKernel, relativeError, values } from './compare-backends.ts';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

/** Whether relaxed_madd can be fused here (x86 FMA3; elsewhere V8 may lower it to mul + add). */
const CPU_HAS_FMA = existsSync('/proc/cpuinfo') && /\bfma\b/.test(readFileSync('/proc/cpuinfo', 'utf8'));

/** Runs a kernel on wasm with the SIMD kernels on and off; returns both outputs' values. */
function bothPaths(kernel: string, inputs: Record<string, tf.Tensor>, attrs: Record<string, unknown> = {}): { simd: Float32Array[]; js: Float32Array[] } {
  const run = (on: boolean) => {
    setSimdEnabled(on);
    const out = tf.engine().runKernel(kernel, inputs, attrs as tf.NamedAttrMap) as tf.Tensor | tf.Tensor[];
    const list = Array.isArray(out) ? out : [out];
    const data = list.map((t) => t.dataSync() as Float32Array);
    tf.dispose(list);
    return data;
  };
  return { simd: run(true), js: run(false) };
}

beforeAll(async () => {
  await initBackend('wasm');
});

afterEach(() => {
  setSimdEnabled(true);
  forceSimdVariant(undefined);
});

describe('the SIMD module', () => {
  it('is the compiled .wat modules, byte for byte, in both builds (rerun scripts/build-simd.ts after editing one)', async () => {
    const builds = await compileAll();
    expect(Object.keys(SIMD_MODULE_BYTES)).toEqual([...SIMD_MODULES]);
    for (const name of SIMD_MODULES) {
      for (const variant of ['plain', 'fma'] as const) {
        expect(Buffer.from(SIMD_MODULE_BYTES[name][variant], 'base64').equals(Buffer.from(builds[name][variant])), `${name} ${variant}`).toBe(true);
      }
    }
    expect(generatedSource(builds)).toContain(SIMD_MODULE_BYTES.gemm.fma.slice(0, 50));
  });

  it('lowers relaxed_madd to mul then add for the plain build, nested operands included', () => {
    expect(lowerRelaxedMadd('(local.set $a (f32x4.relaxed_madd (local.get $s) (v128.load (i32.add (local.get $p) (i32.const 16))) (local.get $a)))')).toBe(
      '(local.set $a (f32x4.add (f32x4.mul (local.get $s) (v128.load (i32.add (local.get $p) (i32.const 16)))) (local.get $a)))',
    );
    expect(lowerRelaxedMadd('(f32x4.relaxed_madd (local.get $x) (local.get $y)\n   (f32x4.relaxed_madd (local.get $u) (local.get $v) (local.get $w)))')).toBe(
      '(f32x4.add (f32x4.mul (local.get $x) (local.get $y)) (f32x4.add (f32x4.mul (local.get $u) (local.get $v)) (local.get $w)))',
    );
    expect(() => lowerRelaxedMadd('(f32x4.relaxed_madd (local.get $x) (local.get $y))')).toThrow(/takes 3 operands, got 2/);
    expect(() => lowerRelaxedMadd('(f32x4.relaxed_madd $x (local.get $y) (local.get $z))')).toThrow(/must be parenthesized/);
    // The modules themselves: nothing relaxed is left in the plain build.
    for (const name of SIMD_MODULES) {
      expect(readFileSync(watFile(name), 'utf8')).toContain('(f32x4.relaxed_madd');
      expect(lowerRelaxedMadd(readFileSync(watFile(name), 'utf8'))).not.toMatch(/\(\w+\.relaxed_/);
    }
  });

  it('runs the FMA build on this Node (relaxed SIMD, switched on for Node 20)', () => {
    expect(simdVariant()).toBe('fma');
    forceSimdVariant('plain');
    expect(simdVariant()).toBe('plain');
  });

  it('loads in this Node and runs inside the backend memory', () => {
    const k = simdKernels(tf.backend() as BackendWasm);
    expect(k).not.toBeNull();
    expect(Object.keys(k!).sort()).toEqual([
      'adam',
      'bn_apply',
      'channel_partials',
      'conv_direct',
      'dense_forward',
      'depthwise',
      'filter_grad_direct',
      'flip_filter',
      'gemm',
      'gemm_tn',
      'grad_partials',
      'im2col',
      'matmul_nt',
      'matmul_tn',
      'max_pool_2x2',
      'max_pool_2x2_arg',
      'max_pool_grad_2x2',
      'pack_b',
      'pooled_bias_grad',
      'relu_bias_grad',
      'relu_grad',
      'sum_partials',
      'transpose_2d',
      'unpool_relu_grad',
      'wino_filter',
      'winograd',
    ]);
  });
});

describe('KdqAdamUpdate', () => {
  it('gives the same step in SIMD float32 as the float64 JavaScript loop, tail elements included', () => {
    const n = 4 * 257 + 3; // not a multiple of 4: the scalar tail runs too
    const t = (seed: number, positive = false) => tf.tensor1d(values(n, seed, positive));
    const attrs = { learningRate: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, c1: 1 - 0.9 ** 3, c2: 1 - 0.999 ** 3 };
    // Fresh moments for each path: the kernel updates them in place.
    const run = (simd: boolean) => {
      setSimdEnabled(simd);
      const inputs = { value: t(1), gradient: t(2), m: t(3), v: t(4, true) };
      const out = tf.engine().runKernel(ADAM_UPDATE, inputs, attrs) as tf.Tensor[];
      const data = out.map((o) => o.dataSync().slice() as Float32Array);
      tf.dispose([...out, ...Object.values(inputs)]);
      return data;
    };
    const simd = run(true);
    const js = run(false);
    for (let i = 0; i < 3; i++) expect(relativeError(simd[i]!, js[i]!)).toBeLessThan(1e-6);
    // The step moved the weights by about lr (Adam's normalised step), not 0 and not wildly.
    const w0 = values(n, 1);
    const moved = Math.max(...simd[0]!.map((w, i) => Math.abs(w - w0[i]!)));
    expect(moved).toBeGreaterThan(0.005);
    expect(moved).toBeLessThan(0.05);
  });

  it('updates the moments in place, unless another tensor shares their buffer; never the weights', () => {
    const n = 12;
    const attrs = { learningRate: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, c1: 0.1, c2: 0.001 };
    const value = tf.tensor1d(values(n, 5));
    const gradient = tf.tensor1d(values(n, 6));
    const m = tf.tensor1d(values(n, 7));
    const v = tf.tensor1d(values(n, 8, true));
    const vShared = v.clone(); // kdq's Identity: same buffer, so v must not be written
    const vBefore = v.dataSync().slice();
    const before = tf.memory().numDataBuffers;
    const [w2, m2, v2] = tf.engine().runKernel(ADAM_UPDATE, { value, gradient, m, v }, attrs) as tf.Tensor[];
    expect(m2!.dataId).toBe(m.dataId); // in place
    expect(Array.from(m.dataSync())).toEqual(Array.from(m2!.dataSync()));
    expect(m.dataSync()[0]).toBeCloseTo(0.9 * values(n, 7)[0]! + 0.1 * values(n, 6)[0]!, 6);
    expect(v2!.dataId).not.toBe(v.dataId); // shared: a new buffer
    expect(Array.from(vShared.dataSync())).toEqual(Array.from(vBefore));
    expect(w2!.dataId).not.toBe(value.dataId);
    expect(tf.memory().numDataBuffers - before).toBe(2); // only the new weights and the new v
    tf.dispose([value, gradient, m, v, vShared, w2!, m2!, v2!]);
  });
});

describe('KdqReluBiasGrad', () => {
  for (const channels of [8, 6]) {
    it(`masks dy where y <= 0 and sums the bias gradient (${channels} channels, ${channels % 4 ? 'JavaScript' : 'SIMD'} path)`, () => {
      const shape = [3, 5, 4, channels];
      const yv = values(size(shape), 11);
      yv[0] = 0; // relu'(0) = 0, as tf.step
      const dyv = values(size(shape), 12);
      const y = tf.tensor(yv, shape);
      const dy = tf.tensor(dyv, shape);
      const [dz, db] = tf.engine().runKernel(RELU_BIAS_GRAD, { dy, y }) as unknown as tf.Tensor[];
      const dzv = dz.dataSync();
      const dbv = db.dataSync();
      const expectDb = new Float64Array(channels);
      for (let i = 0; i < dyv.length; i++) {
        const d = yv[i] > 0 ? dyv[i] : 0;
        expect(dzv[i]).toBe(Math.fround(d));
        expectDb[i % channels] += d;
      }
      expect(db.shape).toEqual([channels]);
      expect(relativeError(dbv, expectDb)).toBeLessThan(1e-6);
      tf.dispose([y, dy, dz, db]);
    });
  }
});

describe("MaxPool 2x2 stride 2 (SIMD path) gives the stock kernel's values", () => {
  const cases = [
    { name: 'kd-mnist teacher, 32 channels', shape: [3, 26, 26, 32], pool: 2, stride: 2, pad: 'valid', simd: true },
    { name: 'odd sizes leave a row and a column outside every window', shape: [2, 7, 5, 4], pool: 2, stride: 2, pad: 'valid', simd: true },
    { name: "'same' on even sizes pads nothing", shape: [2, 8, 6, 8], pool: 2, stride: 2, pad: 'same', simd: true },
    { name: "'same' on odd sizes pads: the stock kernel", shape: [2, 7, 5, 4], pool: 2, stride: 2, pad: 'same', simd: false },
    { name: '3x3 windows: the stock kernel', shape: [2, 9, 9, 4], pool: 3, stride: 2, pad: 'valid', simd: false },
    { name: '3 channels: the stock kernel', shape: [2, 8, 8, 3], pool: 2, stride: 2, pad: 'valid', simd: false },
  ] as const;
  for (const c of cases) {
    it(`${c.name}, with ties and all-negative windows`, () => {
      const data = values(size([...c.shape]), 41);
      for (let i = 0; i < data.length; i += 7) data[i] = 0.25;
      for (let i = 0; i < data.length / 3; i++) data[i] = -Math.abs(data[i]) - 1;
      const x = tf.tensor4d(data, [...c.shape] as [number, number, number, number]);
      const simd = simdKernels(tf.backend() as BackendWasm)!;
      let calls = 0;
      const kernel = simd.max_pool_2x2;
      simd.max_pool_2x2 = (...a) => {
        calls++;
        kernel(...a);
      };
      try {
        const attrs = { filterSize: [c.pool, c.pool], strides: [c.stride, c.stride], pad: c.pad, dimRoundingMode: undefined };
        const r = bothPaths('MaxPool', { x }, attrs);
        expect(calls > 0).toBe(c.simd);
        expect(Array.from(r.simd[0]!)).toEqual(Array.from(r.js[0]!));
      } finally {
        simd.max_pool_2x2 = kernel;
        x.dispose();
      }
    });
  }
});

describe('MaxPoolGrad 2x2 stride 2 (SIMD path) matches cpu', () => {
  const cases = [
    { name: 'even sizes, 8 channels', shape: [2, 6, 8, 8] },
    { name: 'odd sizes leave a row and a column outside every window', shape: [1, 7, 5, 4] },
  ];
  for (const c of cases) {
    it(`${c.name}, with ties and all-negative windows`, async () => {
      const x = values(size(c.shape), 21);
      for (let i = 0; i < x.length; i += 5) x[i] = 0.25; // ties: the first maximum in row-major order wins
      for (let i = 0; i < x.length / 3; i++) x[i] = -Math.abs(x[i]) - 1;
      await initBackend('cpu');
      const xt = tf.tensor4d(x, c.shape as [number, number, number, number]);
      const pooled = tf.maxPool(xt, 2, 2, 'valid');
      const output = { shape: pooled.shape, data: pooled.dataSync() as Float32Array };
      tf.dispose([xt, pooled]);
      const dy = { shape: output.shape, data: values(size(output.shape), 22, true) };
      const r = await compareKernel(
        'MaxPoolGrad',
        { dy, input: { shape: c.shape, data: x }, output },
        {
          filterSize: [2, 2],
          strides: [2, 2],
          pad: 'valid',
          dimRoundingMode: undefined,
        },
      );
      expect(Array.from(r.wasm.data)).toEqual(Array.from(r.cpu.data));
    });
  }

  // dx is zeroed only where some input lies in no window; elsewhere every element is stored.
  for (const shape of [
    [2, 6, 8, 8],
    [1, 7, 5, 4],
  ]) {
    it(`leaves nothing of what dx held before, ${shape.join('x')}`, async () => {
      await initBackend('wasm');
      const backend = tf.backend() as BackendWasm;
      const simd = simdKernels(backend)!;
      const [n, h, w, c] = shape as [number, number, number, number];
      const x = tf.tensor4d(values(size(shape), 51), [n, h, w, c]);
      const y = tf.maxPool(x, 2, 2, 'valid');
      const dy = tf.onesLike(y);
      const dx = tf.fill(shape, NaN);
      const at = (t: tf.Tensor) => heapOffset(backend, t);
      try {
        const misses = simd.max_pool_grad_2x2(at(x), at(y), at(dy), at(dx), n, h, w, c, y.shape[1], y.shape[2]);
        expect(misses).toBe(0);
        const out = backend.typedArrayFromHeap(dx as unknown as tf.TensorInfo) as Float32Array;
        // one 1 per window and channel, every other element 0
        expect(out.filter((v) => Number.isNaN(v))).toHaveLength(0);
        expect(out.reduce((s, v) => s + v, 0)).toBe(y.size);
      } finally {
        tf.dispose([x, y, dy, dx]);
      }
    });
  }

  it('hands a NaN maximum to the general kernel, which routes it as cpu does', async () => {
    const shape = [1, 4, 4, 4];
    const x = values(size(shape), 31);
    const dy = { shape: [1, 2, 2, 4], data: values(16, 32, true) };
    await initBackend('cpu');
    const xt = tf.tensor4d(x, shape as [number, number, number, number]);
    const pooled = tf.maxPool(xt, 2, 2, 'valid');
    const output = { shape: pooled.shape, data: pooled.dataSync() as Float32Array };
    tf.dispose([xt, pooled]);
    // A maximum that no input equals (as a NaN forward would give): cpu ignores the output and
    // routes to the window's argmax; the SIMD path must notice the miss and fall back.
    output.data[1] = NaN;
    const r = await compareKernel(
      'MaxPoolGrad',
      { dy, input: { shape, data: x }, output },
      {
        filterSize: [2, 2],
        strides: [2, 2],
        pad: 'valid',
        dimRoundingMode: undefined,
      },
    );
    expect(Array.from(r.wasm.data)).toEqual(Array.from(r.cpu.data));
    expect(r.wasm.data.some((v) => v !== 0)).toBe(true);
  });
});

describe('KdqFusedDense: SIMD dense forward', () => {
  /** act(x w + b) in float64, for comparison. */
  function reference(x: Float32Array, w: Float32Array, b: Float32Array, m: number, k: number, n: number, relu: boolean): Float64Array {
    const out = new Float64Array(m * n);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = b[j]!;
        for (let q = 0; q < k; q++) s += x[i * k + q]! * w[q * n + j]!;
        out[i * n + j] = relu ? Math.max(s, 0) : s;
      }
    }
    return out;
  }
  // Row counts on both sides of the 4-row tile, column counts of one and several 8-column blocks,
  // and 10 (not a multiple of 8: the stock kernel's path).
  const shapes: [number, number, number][] = [
    [1, 1, 8],
    [3, 7, 8],
    [4, 300, 16],
    [5, 33, 24],
    [9, 50, 64],
    [32, 5408, 128],
    [7, 9, 10],
  ];
  for (const [m, k, n] of shapes) {
    for (const activation of ['relu', 'linear'] as const) {
      it(`${m}x${k} times ${k}x${n}, ${activation}, FMA, plain SIMD and stock paths match float64 (relative error < 1e-5)`, () => {
        const xv = values(m * k, m + k);
        const wv = values(k * n, k + n);
        const bv = values(n, n);
        const x = tf.tensor2d(xv, [m, k]);
        const kernel = tf.tensor2d(wv, [k, n]);
        const bias = tf.tensor1d(bv);
        const r = bothPaths(FUSED_DENSE, { x, kernel, bias }, { activation });
        forceSimdVariant('plain');
        const plain = bothPaths(FUSED_DENSE, { x, kernel, bias }, { activation }).simd[0];
        const want = reference(xv, wv, bv, m, k, n, activation === 'relu');
        expect(relativeError(r.simd[0], want)).toBeLessThan(1e-5);
        expect(relativeError(plain, want)).toBeLessThan(1e-5);
        expect(relativeError(r.js[0], want)).toBeLessThan(1e-5);
        // Rounding once per multiply-add shows in a long dot product, where the CPU fuses it.
        if (k === 5408 && CPU_HAS_FMA) expect(Array.from(r.simd[0])).not.toEqual(Array.from(plain));
        if (activation === 'relu') expect(r.simd[0].some((v) => v === 0) && r.simd[0].some((v) => v > 0)).toBe(true);
        tf.dispose([x, kernel, bias]);
      });
    }
  }

  it('keeps a NaN input a NaN through the relu (so training can stop on it)', () => {
    const xv = values(4 * 16, 3);
    xv[5] = NaN; // row 0
    const x = tf.tensor2d(xv, [4, 16]);
    const kernel = tf.tensor2d(values(16 * 8, 4), [16, 8]);
    const bias = tf.zeros([8]);
    const r = bothPaths(FUSED_DENSE, { x, kernel, bias }, { activation: 'relu' });
    expect(Array.from(r.simd[0].subarray(0, 8)).every(Number.isNaN)).toBe(true);
    expect(Array.from(r.simd[0].subarray(8)).some(Number.isNaN)).toBe(false);
    tf.dispose([x, kernel, bias]);
  });
});

describe('BatchMatMul A^T B and A B^T on the SIMD kernels (no transposes)', () => {
  /** op(A) op(B) in float64; a and b as stored. */
  function reference(a: Float32Array, b: Float32Array, m: number, k: number, n: number, tA: boolean, tB: boolean): Float64Array {
    const out = new Float64Array(m * n);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let q = 0; q < k; q++) s += a[tA ? q * m + i : i * k + q]! * b[tB ? j * k + q : q * n + j]!;
        out[i * n + j] = s;
      }
    }
    return out;
  }
  // [m, k, n]: tiles and leftovers on every side (4-row tiles of A^T B, 2x4 tiles of A B^T, odd
  // row counts), one-row products, and the teacher's two Dense-backward products.
  const cases: [number, number, number][] = [
    [1, 1, 8],
    [5, 3, 8],
    [7, 13, 16],
    [4, 32, 24],
    [9, 4, 12],
    [3, 8, 5],
    [128, 32, 5408],
    [5408, 32, 128],
    [32, 128, 5408],
  ];
  for (const [m, k, n] of cases) {
    for (const [tA, tB] of [
      [true, false],
      [false, true],
    ] as const) {
      const simdCase = tA ? n % 8 === 0 : k % 4 === 0;
      it(`${tA ? 'A^T B' : 'A B^T'} m${m} k${k} n${n}: FMA, plain and ${simdCase ? '' : 'only '}stock paths match float64 (relative error < 1e-5)`, () => {
        const av = values(m * k, m + 2 * k);
        const bv = values(k * n, n + 3 * k);
        const a = tf.tensor2d(av, tA ? [k, m] : [m, k]);
        const b = tf.tensor2d(bv, tB ? [n, k] : [k, n]);
        const attrs = { transposeA: tA, transposeB: tB };
        const r = bothPaths('BatchMatMul', { a, b }, attrs);
        forceSimdVariant('plain');
        const plain = bothPaths('BatchMatMul', { a, b }, attrs).simd[0];
        const want = reference(av, bv, m, k, n, tA, tB);
        expect(relativeError(r.simd[0], want)).toBeLessThan(1e-5);
        expect(relativeError(plain, want)).toBeLessThan(1e-5);
        expect(relativeError(r.js[0], want)).toBeLessThan(1e-5);
        if (k === 32 && n >= 128 && CPU_HAS_FMA) expect(Array.from(r.simd[0])).not.toEqual(Array.from(plain));
        tf.dispose([a, b]);
      });
    }
  }

  it('propagates a NaN to exactly the outputs it feeds', () => {
    const av = values(4 * 8, 1);
    av[2 * 8 + 3] = NaN; // a[2, 3]: row 2 of A, so row 2 of A B^T
    const a = tf.tensor2d(av, [4, 8]);
    const b = tf.tensor2d(values(6 * 8, 2), [6, 8]);
    const out = tf.engine().runKernel('BatchMatMul', { a, b }, { transposeA: false, transposeB: true }) as tf.Tensor;
    const v = out.dataSync();
    for (let i = 0; i < 4; i++) for (let j = 0; j < 6; j++) expect(Number.isNaN(v[i * 6 + j]!)).toBe(i === 2);
    tf.dispose([a, b, out]);
  });
});

describe('transpose2d: SIMD 4x4 blocks and ragged edges', () => {
  // Both sides of the 4x4 block in each dimension, a single element, and the teacher's Dense shapes.
  const shapes: [number, number][] = [
    [1, 1],
    [1, 7],
    [6, 1],
    [3, 5],
    [4, 4],
    [5, 9],
    [8, 12],
    [13, 6],
    [32, 5408],
    [5408, 32],
  ];
  for (const [rows, cols] of shapes) {
    it(`${rows}x${cols}: SIMD and JavaScript paths give the exact transpose`, () => {
      const v = values(rows * cols, rows + 3 * cols);
      const t = tf.tensor2d(v, [rows, cols]);
      const backend = tf.backend() as BackendWasm;
      const run = (on: boolean) => {
        setSimdEnabled(on);
        const out = transpose2d(backend, t, rows, cols);
        const data = backend.typedArrayFromHeap(out).slice() as Float32Array;
        release(backend, out);
        return data;
      };
      const want = new Float32Array(rows * cols);
      for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) want[c * rows + r] = v[r * cols + c]!;
      expect(Array.from(run(true))).toEqual(Array.from(want));
      expect(Array.from(run(false))).toEqual(Array.from(want));
      t.dispose();
    });
  }
});

describe('Identity shares the buffer', () => {
  it('a clone outlives its source and frees the memory once both are gone', () => {
    const before = tf.memory().numDataBuffers;
    const a = tf.tensor1d([1, 2, 3, 4]);
    const b = a.clone();
    expect(tf.memory().numDataBuffers - before).toBe(1);
    a.dispose();
    expect(Array.from(b.dataSync())).toEqual([1, 2, 3, 4]);
    b.dispose();
    expect(tf.memory().numDataBuffers).toBe(before);
  });
});
