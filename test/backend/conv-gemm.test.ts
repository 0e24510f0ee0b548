import { existsSync, readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { initBackend } from '../../src/backend/index.ts';
import { forceSimdVariant, heapOffset, simdKernels } from '../../src/backend/simd/index.ts';
import { setConvBlocks, setDirectFilterGrad } from '../../src/backend/wasm-kernels/conv-gemm.ts';
import { setWinograd } from '../../src/backend/wasm-kernels/winograd.ts';
import { compareKernel, values } from './compare-backends.ts';

const TOL = 1e-4;
const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
const input = (shape: number[], seed: number) => ({ shape, data: values(size(shape), seed) });

/** Output size of a convolution, as tf.js computes it. */
function outSize(inSize: number, k: number, stride: number, pad: 'same' | 'valid'): number {
  return pad === 'same' ? Math.ceil(inSize / stride) : Math.ceil((inSize - k + 1) / stride);
}

interface Case {
  h: number;
  w: number;
  cin: number;
  cout: number;
  k: [number, number];
  stride: number;
  pad: 'same' | 'valid';
}

/**
 * Seeded random cases over what the suite's networks and users' ones have: strides 1 and 2, both
 * paddings, odd image sizes, channel counts 1, 3, 16, 32 and 64 in and out, square and oblong
 * filters (DS-CNN's 10x4), 1x1 filters; the default blocks and tiny ones (many blocks, and block
 * edges inside a tile, from small shapes).
 */
function cases(): Case[] {
  const channels = [1, 3, 16, 32, 64];
  const kernels: [number, number][] = [
    [3, 3],
    [1, 1],
    [5, 5],
    [10, 4],
    [2, 3],
  ];
  let s = 12345;
  const pick = <T>(xs: readonly T[]): T => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return xs[s % xs.length]!;
  };
  const out: Case[] = [];
  for (let i = 0; i < 18; i++) {
    const k = pick(kernels);
    out.push({
      h: pick([5, 7, 9, 12]) + k[0],
      w: pick([3, 6, 8, 11]) + k[1],
      cin: pick(channels),
      cout: pick(channels),
      k,
      stride: pick([1, 2]),
      pad: pick(['same', 'valid'] as const),
    });
  }
  // The suite's shapes, reduced to one image.
  out.push({ h: 15, w: 15, cin: 32, cout: 64, k: [3, 3], stride: 1, pad: 'valid' });
  out.push({ h: 16, w: 16, cin: 16, cout: 32, k: [3, 3], stride: 2, pad: 'same' });
  out.push({ h: 16, w: 16, cin: 16, cout: 32, k: [1, 1], stride: 2, pad: 'same' });
  out.push({ h: 28, w: 28, cin: 1, cout: 32, k: [3, 3], stride: 1, pad: 'valid' });
  // Winograd's edges: odd output sizes (tiles half outside), 12 outputs (a half panel), and the
  // input gradient of a 'valid' layer (a convolution of dy padded by 2)
  out.push({ h: 9, w: 7, cin: 8, cout: 12, k: [3, 3], stride: 1, pad: 'same' });
  out.push({ h: 10, w: 13, cin: 16, cout: 12, k: [3, 3], stride: 1, pad: 'valid' });
  return out;
}

const name = (c: Case) => `${c.h}x${c.w}x${c.cin} -> ${c.cout}, ${c.k.join('x')} stride ${c.stride} ${c.pad}`;

beforeAll(async () => {
  await initBackend('wasm');
});

afterEach(() => {
  setConvBlocks();
  setDirectFilterGrad(true);
  setWinograd(true);
  forceSimdVariant(undefined);
});

const TINY_BLOCKS = { bytes: 1024, filterBytes: 1024, filterMinRows: 4, directFilterBytes: 256 };

for (const blocks of [undefined, TINY_BLOCKS]) {
  describe(`convolutions on the SIMD matrix products match cpu (${blocks ? 'tiny' : 'default'} blocks)`, () => {
    for (const c of cases()) {
      const batch = 2;
      const xShape = [batch, c.h, c.w, c.cin];
      const fShape = [c.k[0], c.k[1], c.cin, c.cout];
      const dyShape = [batch, outSize(c.h, c.k[0], c.stride, c.pad), outSize(c.w, c.k[1], c.stride, c.pad), c.cout];
      const common = { strides: [c.stride, c.stride], pad: c.pad, dataFormat: 'NHWC', dimRoundingMode: undefined };
      it(`Conv2D and FusedConv2D (bias, relu), ${name(c)}`, async () => {
        setConvBlocks(blocks);
        const plain = await compareKernel('Conv2D', { x: input(xShape, 1), filter: input(fShape, 2) }, { ...common, dilations: [1, 1] });
        expect(plain.wasm.shape).toEqual(dyShape);
        expect(plain.error).toBeLessThan(TOL);
        const fused = await compareKernel(
          'FusedConv2D',
          { x: input(xShape, 3), filter: input(fShape, 4), bias: input([c.cout], 5) },
          { ...common, dilations: [1, 1], activation: 'relu', leakyreluAlpha: 0 },
        );
        expect(fused.error).toBeLessThan(TOL);
        expect(fused.wasm.data.some((v) => v === 0) && fused.wasm.data.some((v) => v > 0)).toBe(true);
      });
      it(`Conv2DBackpropInput, ${name(c)}`, async () => {
        setConvBlocks(blocks);
        const r = await compareKernel('Conv2DBackpropInput', { dy: input(dyShape, 6), filter: input(fShape, 7) }, { ...common, inputShape: xShape });
        expect(r.wasm.shape).toEqual(xShape);
        expect(r.error).toBeLessThan(TOL);
      });
      it(`Conv2DBackpropFilter, ${name(c)}`, async () => {
        setConvBlocks(blocks);
        const r = await compareKernel('Conv2DBackpropFilter', { x: input(xShape, 8), dy: input(dyShape, 9) }, { ...common, filterShape: fShape });
        expect(r.wasm.shape).toEqual(fShape);
        expect(r.error).toBeLessThan(TOL);
      });
    }
  });
}

describe('the filter gradient read in place (fewer than 4 input channels, or up to 16 at stride 1)', () => {
  // Each value of dW is one chain of multiply-adds over the pixels in order, whether the taps are
  // read in place or from im2col rows: the two must agree bit for bit, not only within rounding.
  type Shape4 = [number, number, number, number];
  const shapes: { x: Shape4; f: Shape4; stride: number; pad: 'same' | 'valid' }[] = [
    { x: [4, 28, 28, 1], f: [3, 3, 1, 32], stride: 1, pad: 'valid' }, // kd-mnist's teacher
    { x: [3, 32, 32, 3], f: [3, 3, 3, 16], stride: 1, pad: 'same' }, // ResNet-8's first layer
    { x: [3, 49, 10, 1], f: [10, 4, 1, 64], stride: 2, pad: 'same' }, // DS-CNN's first layer
    { x: [2, 12, 11, 2], f: [2, 3, 2, 12], stride: 2, pad: 'valid' }, // rows and columns the stride leaves out
    { x: [2, 9, 7, 3], f: [5, 5, 3, 4], stride: 1, pad: 'same' }, // narrow tiles only, wide padding
    { x: [2, 12, 10, 16], f: [3, 3, 16, 16], stride: 1, pad: 'same' }, // ResNet-8's first stack
    { x: [2, 9, 9, 8], f: [3, 3, 8, 12], stride: 1, pad: 'valid' }, // taps 4 channels side by side, a narrow tile
  ];
  for (const c of shapes) {
    it(`reads the taps in place with the bits of im2col rows: ${c.x.join('x')}, ${c.f.slice(0, 2).join('x')} -> ${c.f[3]}, stride ${c.stride} ${c.pad}`, () => {
      const simd = simdKernels(tf.backend() as BackendWasm)!;
      const direct = vi.spyOn(simd, 'filter_grad_direct');
      const gemmTn = vi.spyOn(simd, 'gemm_tn');
      try {
        const x = tf.tensor(values(size(c.x), 21), c.x) as tf.Tensor4D;
        const y = tf.conv2d(x, tf.zeros(c.f) as tf.Tensor4D, c.stride, c.pad);
        const dy = tf.tensor(values(y.size, 22), y.shape);
        const attrs = { strides: [c.stride, c.stride], pad: c.pad, dataFormat: 'NHWC', filterShape: c.f } as unknown as tf.NamedAttrMap;
        const run = (inPlace: boolean, blockBytes?: number) => {
          setDirectFilterGrad(inPlace);
          setConvBlocks(blockBytes === undefined ? undefined : { filterBytes: blockBytes, directFilterBytes: blockBytes, filterMinRows: 4 });
          const dw = tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, attrs) as tf.Tensor;
          const bytes = Buffer.from((dw.dataSync() as Float32Array).slice().buffer);
          dw.dispose();
          return bytes;
        };
        const rows = run(false);
        expect(gemmTn).toHaveBeenCalled();
        expect(direct).not.toHaveBeenCalled();
        const inPlace = run(true);
        expect(direct).toHaveBeenCalled();
        expect(inPlace.equals(rows)).toBe(true);
        // blocks cut elsewhere: the chains continue across them
        expect(run(true, 128).equals(rows)).toBe(true);
        tf.dispose([x, y, dy]);
      } finally {
        vi.restoreAllMocks();
      }
    });
  }
});

describe('Winograd F(2x2, 3x3)', () => {
  const F = Math.fround;
  /** (G g G^T)[a][b] of one channel pair's 3x3 filter g, in the kernel's order of float32 roundings. */
  function reference(g: number[][]): number[][] {
    const apply = (p: number, q: number, r: number) => [p, F(F(F(p + q) + r) * 0.5), F(F(F(p - q) + r) * 0.5), r];
    const cols = [0, 1, 2].map((kw) => apply(g[0]![kw]!, g[1]![kw]!, g[2]![kw]!));
    return [0, 1, 2, 3].map((a) => apply(cols[0]![a]!, cols[1]![a]!, cols[2]![a]!));
  }

  it('transforms the filter into the 16 packed panels exactly, the half panel of 12 outputs padded with zeros', () => {
    const backend = tf.backend() as BackendWasm;
    const simd = simdKernels(backend)!;
    const [C, N] = [8, 12];
    const g = tf.tensor(values(9 * C * N, 31), [3, 3, C, N]);
    const gv = g.dataSync() as Float32Array;
    const panels = tf.fill([16 * 16 * C], Number.NaN);
    simd.wino_filter(heapOffset(backend, g), heapOffset(backend, panels), C, N);
    const u = panels.dataSync() as Float32Array;
    const mismatches: string[] = [];
    for (let ci = 0; ci < C; ci++) {
      for (let co = 0; co < 16; co++) {
        const want =
          co < N ? reference([0, 1, 2].map((kh) => [0, 1, 2].map((kw) => gv[((kh * 3 + kw) * C + ci) * N + co]!))) : [0, 1, 2, 3].map(() => [0, 0, 0, 0]);
        for (let xi = 0; xi < 16; xi++) {
          // pack_b's layout: panel j of 8 columns holds row ci's 8 floats
          const got = u[xi * 16 * C + (co >> 3) * C * 8 + ci * 8 + (co & 7)]!;
          if (!Object.is(got, want[xi >> 2]![xi & 3]!)) mismatches.push(`ci ${ci} co ${co} xi ${xi}: ${got}`);
        }
      }
    }
    expect(mismatches).toEqual([]);
    tf.dispose([g, panels]);
  });

  const layers: { x: [number, number, number, number]; f: [number, number, number, number]; pad: 'same' | 'valid' }[] = [
    { x: [2, 32, 32, 16], f: [3, 3, 16, 16], pad: 'same' }, // ResNet-8's first stack
    { x: [2, 8, 8, 64], f: [3, 3, 64, 64], pad: 'same' }, // its last
    { x: [2, 15, 15, 32], f: [3, 3, 32, 64], pad: 'valid' }, // the 32x32x3 CNN's second layer
  ];
  for (const c of layers) {
    it(`computes ${c.x.slice(1).join('x')} -> ${c.f[3]} ${c.pad} (bias, relu) within float32 rounding of the direct product`, () => {
      const simd = simdKernels(tf.backend() as BackendWasm)!;
      const wino = vi.spyOn(simd, 'winograd');
      try {
        const x = tf.tensor(values(size(c.x), 41), c.x) as tf.Tensor4D;
        const filter = tf.tensor(values(size(c.f), 42), c.f) as tf.Tensor4D;
        const bias = tf.tensor1d(values(c.f[3]!, 43));
        const run = (on: boolean) => {
          setWinograd(on);
          return tf.tidy(() => tf.fused.conv2d({ x, filter, bias, strides: 1, pad: c.pad, activation: 'relu' }).dataSync() as Float32Array);
        };
        const direct = run(false);
        expect(wino).not.toHaveBeenCalled();
        const w = run(true);
        expect(wino).toHaveBeenCalled();
        let worst = 0;
        let scale = 0;
        for (let i = 0; i < direct.length; i++) {
          worst = Math.max(worst, Math.abs(w[i]! - direct[i]!));
          scale = Math.max(scale, Math.abs(direct[i]!));
        }
        expect(worst / scale).toBeLessThan(1e-5);
        expect(worst).toBeGreaterThan(0); // another rounding: not secretly the direct product
        tf.dispose([x, filter, bias]);
      } finally {
        vi.restoreAllMocks();
      }
    });
  }
});

describe('the plain SIMD build (no fused multiply-add)', () => {
  it('computes the same convolution and gradients, within float32 rounding', async () => {
    const xShape = [2, 9, 9, 16];
    const fShape = [3, 3, 16, 32];
    const dyShape = [2, 9, 9, 32];
    const common = { strides: [1, 1], pad: 'same', dataFormat: 'NHWC', dimRoundingMode: undefined };
    forceSimdVariant('plain');
    const fwd = await compareKernel('Conv2D', { x: input(xShape, 1), filter: input(fShape, 2) }, { ...common, dilations: [1, 1] });
    const dx = await compareKernel('Conv2DBackpropInput', { dy: input(dyShape, 3), filter: input(fShape, 4) }, { ...common, inputShape: xShape });
    const dw = await compareKernel('Conv2DBackpropFilter', { x: input(xShape, 5), dy: input(dyShape, 6) }, { ...common, filterShape: fShape });
    for (const r of [fwd, dx, dw]) expect(r.error).toBeLessThan(TOL);
    forceSimdVariant('fma');
    const fma = await compareKernel('Conv2D', { x: input(xShape, 1), filter: input(fShape, 2) }, { ...common, dilations: [1, 1] });
    // where the CPU has FMA the two builds round differently (the build is part of every stage key)
    const cpuHasFma = existsSync('/proc/cpuinfo') && /\bfma\b/.test(readFileSync('/proc/cpuinfo', 'utf8'));
    if (cpuHasFma) expect(Array.from(fma.wasm.data)).not.toEqual(Array.from(fwd.wasm.data));
  });
});

describe("kdq's convolution kernels are the ones installed", () => {
  it("a convolution's forward pass and both gradients run on kdq's SIMD products (the stock kernels never call them)", () => {
    const simd = simdKernels(tf.backend() as BackendWasm)!;
    const calls = { gemm: vi.spyOn(simd, 'gemm'), gemmTn: vi.spyOn(simd, 'gemm_tn'), im2col: vi.spyOn(simd, 'im2col') };
    try {
      const x = tf.variable(tf.tensor4d(values(2 * 9 * 9 * 8, 1), [2, 9, 9, 8]));
      const f = tf.variable(tf.tensor4d(values(3 * 3 * 8 * 16, 2), [3, 3, 8, 16]));
      // stride 2: the input gradient is a product and a col2im, not a convolution of dy
      const { grads } = tf.variableGrads(() => tf.sum(tf.conv2d(x, f, 2, 'same')) as tf.Scalar, [x, f]);
      expect(calls.gemm).toHaveBeenCalled(); // forward and input gradient
      expect(calls.gemmTn).toHaveBeenCalled(); // filter gradient
      expect(calls.im2col.mock.calls.some((c) => c[6] === 1)).toBe(true); // col2im (scatter)
      tf.dispose([x, f, ...Object.values(grads)]);
    } finally {
      vi.restoreAllMocks();
    }
  });
});
