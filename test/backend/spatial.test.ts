import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { initBackend } from '../../src/backend/index.ts';
import { simdKernels } from '../../src/backend/simd/index.ts';
import { compareKernel, values } from './compare-backends.ts';

const TOL = 1e-4;
const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
const input = (shape: number[], seed: number, positive = false) => ({ shape, data: values(size(shape), seed, positive) });

function outSize(inSize: number, k: number, stride: number, pad: 'same' | 'valid'): number {
  return pad === 'same' ? Math.ceil(inSize / stride) : Math.ceil((inSize - k + 1) / stride);
}

beforeAll(async () => {
  await initBackend('wasm');
});

const GRID = [1, 2].flatMap((stride) => (['same', 'valid'] as const).map((pad) => ({ stride, pad })));

describe('depthwise convolution (multiplier 1) on the SIMD kernel matches cpu', () => {
  // Channels in fours (SIMD) and 3 (the stock kernel and the JavaScript gradients); odd sizes; DS-CNN's 25x5x64.
  const shapes: { h: number; w: number; c: number; k: number }[] = [
    { h: 9, w: 8, c: 4, k: 3 },
    { h: 7, w: 11, c: 16, k: 3 },
    { h: 25, w: 5, c: 64, k: 3 },
    { h: 6, w: 6, c: 32, k: 5 },
    { h: 8, w: 7, c: 3, k: 3 },
  ];
  for (const { stride, pad } of GRID) {
    for (const s of shapes) {
      const name = `${s.h}x${s.w}x${s.c}, ${s.k}x${s.k} stride ${stride} ${pad}`;
      const xShape = [2, s.h, s.w, s.c];
      const fShape = [s.k, s.k, s.c, 1];
      const dyShape = [2, outSize(s.h, s.k, stride, pad), outSize(s.w, s.k, stride, pad), s.c];
      const attrs = { strides: [stride, stride], dilations: [1, 1], pad, dimRoundingMode: undefined };
      it(`forward, plain and fused (bias, relu), ${name}`, async () => {
        const plain = await compareKernel('DepthwiseConv2dNative', { x: input(xShape, 1), filter: input(fShape, 2) }, { ...attrs, dataFormat: 'NHWC' });
        expect(plain.wasm.shape).toEqual(dyShape);
        expect(plain.error).toBeLessThan(TOL);
        const fused = await compareKernel(
          'FusedDepthwiseConv2D',
          { x: input(xShape, 3), filter: input(fShape, 4), bias: input([s.c], 5) },
          { ...attrs, dataFormat: 'NHWC', activation: 'relu', leakyreluAlpha: 0 },
        );
        expect(fused.error).toBeLessThan(TOL);
      });
      it(`input and filter gradients, ${name}`, async () => {
        const dx = await compareKernel(
          'DepthwiseConv2dNativeBackpropInput',
          { dy: input(dyShape, 6), filter: input(fShape, 7) },
          { ...attrs, inputShape: xShape },
        );
        expect(dx.wasm.shape).toEqual(xShape);
        expect(dx.error).toBeLessThan(TOL);
        const dw = await compareKernel(
          'DepthwiseConv2dNativeBackpropFilter',
          { x: input(xShape, 8), dy: input(dyShape, 9) },
          { ...attrs, filterShape: fShape },
        );
        expect(dw.wasm.shape).toEqual(fShape);
        expect(dw.error).toBeLessThan(TOL);
      });
    }
  }
});

describe('AvgPoolGrad on the SIMD kernel matches cpu', () => {
  for (const { stride, pad } of GRID) {
    for (const [k, c] of [
      [2, 8],
      [3, 16],
      [8, 64],
      [3, 3],
    ] as const) {
      it(`pool ${k} stride ${stride} ${pad}, ${c} channels`, async () => {
        const xShape = [2, 8, 9, c];
        const dyShape = [2, outSize(8, k, stride, pad), outSize(9, k, stride, pad), c];
        const r = await compareKernel(
          'AvgPoolGrad',
          { dy: input(dyShape, 10), input: input(xShape, 11) },
          { filterSize: [k, k], strides: [stride, stride], pad, dimRoundingMode: undefined },
        );
        expect(r.wasm.shape).toEqual(xShape);
        expect(r.error).toBeLessThan(TOL);
      });
    }
  }
});

describe('Sum over every axis but the last (bias gradients) matches cpu', () => {
  for (const shape of [
    [32, 8],
    [2, 5, 7, 16],
    [32, 32, 32, 16],
    [3, 10],
    [4, 6, 5],
  ]) {
    for (const keepDims of [false, true]) {
      it(`${shape.join('x')}, keepDims ${keepDims}`, async () => {
        const axis = shape.slice(0, -1).map((_, i) => i);
        const r = await compareKernel('Sum', { x: input(shape, 12) }, { axis, keepDims });
        expect(r.wasm.shape).toEqual(keepDims ? [...axis.map(() => 1), shape[shape.length - 1]] : [shape[shape.length - 1]]);
        expect(r.error).toBeLessThan(TOL);
      });
    }
  }

  it("gives the stock kernel's bits for up to 256 rows, so the kd-mnist bias gradients do not move", async () => {
    // Summing axis 0 of [200, 3, 4] is not every axis but the last, so the stock kernel takes it;
    // it is the same reduction as axis 0 of [200, 12], which kdq's kernel takes.
    const x = input([200, 12], 13);
    const mine = await compareKernel('Sum', { x }, { axis: [0], keepDims: false });
    const stock = await compareKernel('Sum', { x: { ...x, shape: [200, 3, 4] } }, { axis: [0], keepDims: false });
    expect(Array.from(mine.wasm.data)).toEqual(Array.from(stock.wasm.data));
  });
});

describe("kdq's spatial kernels are the ones installed", () => {
  it("depthwise convolution (forward, both gradients), average pooling's gradient and bias sums call kdq's SIMD kernels", async () => {
    await initBackend('wasm');
    const simd = simdKernels(tf.backend() as BackendWasm)!;
    const depthwise = vi.spyOn(simd, 'depthwise');
    const channelSum = vi.spyOn(simd, 'sum_partials');
    try {
      const x = tf.variable(tf.tensor4d(values(2 * 6 * 6 * 8, 1), [2, 6, 6, 8]));
      const f = tf.variable(tf.tensor4d(values(3 * 3 * 8, 2), [3, 3, 8, 1]));
      const b = tf.variable(tf.tensor1d(values(8, 3)));
      const { grads } = tf.variableGrads(
        () => tf.sum(tf.avgPool(tf.add(tf.depthwiseConv2d(x, f, 1, 'same'), b) as tf.Tensor4D, 2, 2, 'valid')) as tf.Scalar,
        [x, f, b],
      );
      // modes 0 (forward), 1 (input gradient), 2 (filter gradient), 3 (average pooling's gradient)
      expect(new Set(depthwise.mock.calls.map((c) => c[4]))).toEqual(new Set([0, 1, 2, 3]));
      expect(channelSum).toHaveBeenCalled(); // the bias gradient (its partials added up)
      tf.dispose([x, f, b, ...Object.values(grads)]);
    } finally {
      vi.restoreAllMocks();
    }
  });
});
