import { existsSync, readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { initBackend } from '../../src/backend/index.ts';
import { forceSimdVariant, simdKernels } from '../../src/backend/simd/index.ts';
import { setConvBlocks, setDirectFilterGrad } from '../../src/backend/wasm-kernels/conv-gemm.ts';
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
  return out;
}

const name = (c: Case) => `${c.h}x${c.w}x${c.cin} -> ${c.cout}, ${c.k.join('x')} stride ${c.stride} ${c.pad}`;

beforeAll(async () => {
  await initBackend('wasm');
});

afterEach(() => {
  setConvBlocks();
  setDirectFilterGrad(true);
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

describe('the filter gradient of layers with fewer than 4 input channels', () => {
  // Each value of dW is one chain of multiply-adds over the pixels in order, whether the taps are
  // read in place or from im2col rows: the two must agree bit for bit, not only within rounding.
  const shapes: { x: number[]; f: number[]; stride: number; pad: 'same' | 'valid' }[] = [
    { x: [4, 28, 28, 1], f: [3, 3, 1, 32], stride: 1, pad: 'valid' }, // kd-mnist's teacher
    { x: [3, 32, 32, 3], f: [3, 3, 3, 16], stride: 1, pad: 'same' }, // ResNet-8's first layer
    { x: [3, 49, 10, 1], f: [10, 4, 1, 64], stride: 2, pad: 'same' }, // DS-CNN's first layer
    { x: [2, 12, 11, 2], f: [2, 3, 2, 12], stride: 2, pad: 'valid' }, // rows and columns the stride leaves out
    { x: [2, 9, 7, 3], f: [5, 5, 3, 4], stride: 1, pad: 'same' }, // narrow tiles only, wide padding
  ];
  for (const c of shapes) {
    it(`reads the taps in place with the bits of im2col rows: ${c.x.join('x')}, ${c.f.slice(0, 2).join('x')} -> ${c.f[3]}, stride ${c.stride} ${c.pad}`, () => {
      const simd = simdKernels(tf.backend() as BackendWasm)!;
      const direct = vi.spyOn(simd, 'filter_grad_direct');
      const gemmTn = vi.spyOn(simd, 'gemm_tn');
      try {
        const x = tf.tensor4d(values(size(c.x), 21), c.x as [number, number, number, number]);
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
