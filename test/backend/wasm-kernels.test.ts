import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend, KDQ_WASM_KERNELS, registerWasmKernels } from '../../src/backend/index.ts';
import { activeWasmOverrides } from '../../src/backend/wasm-kernels/index.ts';
import { conv2dBackpropFilterConfig } from '../../src/backend/wasm-kernels/conv2d-backprop-filter.ts';
import { depthwiseConv2dBackpropFilterConfig } from '../../src/backend/wasm-kernels/depthwise-conv2d-backprop-filter.ts';
import { depthwiseConv2dBackpropInputConfig } from '../../src/backend/wasm-kernels/depthwise-conv2d-backprop-input.ts';
import { maxPoolGradConfig } from '../../src/backend/wasm-kernels/max-pool-grad.ts';
import { transposeCosts } from '../../src/backend/wasm-kernels/batch-mat-mul.ts';
import { compareKernel, values } from './compare-backends.ts';

const TOL = 1e-4;
const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
const input = (shape: number[], seed: number, positive = false) => ({ shape, data: values(size(shape), seed, positive) });

/** Output spatial size of a convolution or pooling, as tf.js computes it. */
function outSize(inSize: number, k: number, stride: number, pad: 'same' | 'valid'): number {
  return pad === 'same' ? Math.ceil(inSize / stride) : Math.ceil((inSize - k + 1) / stride);
}

beforeAll(async () => {
  await initBackend('wasm');
});

afterAll(async () => {
  await initBackend('wasm');
});

describe('registration', () => {
  it("installs kdq's own kernel for every name it registers (not the stock backend's)", () => {
    expect(KDQ_WASM_KERNELS).toEqual(
      expect.arrayContaining([
        'Conv2DBackpropFilter',
        'DepthwiseConv2dNativeBackpropFilter',
        'DepthwiseConv2dNativeBackpropInput',
        'BatchMatMul',
        'MaxPoolGrad',
        'Slice',
      ]),
    );
    const kdq: Record<string, tf.KernelConfig> = {
      Conv2DBackpropFilter: conv2dBackpropFilterConfig,
      DepthwiseConv2dNativeBackpropFilter: depthwiseConv2dBackpropFilterConfig,
      DepthwiseConv2dNativeBackpropInput: depthwiseConv2dBackpropInputConfig,
      MaxPoolGrad: maxPoolGradConfig,
    };
    for (const [name, config] of Object.entries(kdq)) expect(tf.getKernel(name, 'wasm')?.kernelFunc, name).toBe(config.kernelFunc);
  });

  const ALL_OVERRIDES = [
    'AvgPoolGrad',
    'BatchMatMul',
    'Conv2D',
    'Conv2DBackpropInput',
    'DepthwiseConv2dNative',
    'FusedConv2D',
    'FusedDepthwiseConv2D',
    'Identity',
    'MaxPool',
    'MaxPoolGrad',
    'Slice',
    'Sum',
  ];
  it('an override replaces the stock kernel, and registerWasmKernels(only) puts back every other one', () => {
    expect(activeWasmOverrides()).toEqual(ALL_OVERRIDES);
    const ours = tf.getKernel('BatchMatMul', 'wasm')!.kernelFunc;
    let stock: tf.KernelFunc | undefined;
    try {
      registerWasmKernels(['Slice']);
      expect(activeWasmOverrides()).toEqual(['Slice']);
      stock = tf.getKernel('BatchMatMul', 'wasm')!.kernelFunc;
      expect(stock).not.toBe(ours);
      expect(tf.getKernel('MaxPoolGrad', 'wasm')!.kernelFunc).not.toBe(maxPoolGradConfig.kernelFunc);
    } finally {
      registerWasmKernels();
    }
    expect(activeWasmOverrides()).toEqual(ALL_OVERRIDES);
    expect(tf.getKernel('BatchMatMul', 'wasm')!.kernelFunc).not.toBe(stock);
    expect(tf.getKernel('MaxPoolGrad', 'wasm')!.kernelFunc).toBe(maxPoolGradConfig.kernelFunc);
  });
});

const GRID = [1, 2].flatMap((stride) => (['same', 'valid'] as const).map((pad) => ({ stride, pad })));

describe('Conv2DBackpropFilter matches cpu', () => {
  for (const { stride, pad } of GRID) {
    for (const [k, cin, cout] of [
      [3, 1, 8],
      [3, 3, 5],
      [5, 2, 4],
    ]) {
      it(`k${k} cin${cin} cout${cout} stride ${stride} ${pad}`, async () => {
        const xShape = [2, 9, 8, cin];
        const oh = outSize(9, k, stride, pad);
        const ow = outSize(8, k, stride, pad);
        const r = await compareKernel(
          'Conv2DBackpropFilter',
          { x: input(xShape, 1), dy: input([2, oh, ow, cout], 2) },
          { strides: [stride, stride], pad, dataFormat: 'NHWC', dimRoundingMode: undefined, filterShape: [k, k, cin, cout] },
        );
        expect(r.wasm.shape).toEqual([k, k, cin, cout]);
        expect(r.error).toBeLessThan(TOL);
      });
    }
  }
});

describe('DepthwiseConv2dNative gradients match cpu', () => {
  // tf.js' gradient of depthwiseConv2d refuses dilations > 1, so the cpu reference only covers 1.
  for (const { stride, pad, dilation } of GRID.map((g) => ({ ...g, dilation: 1 }))) {
    for (const mult of [1, 2]) {
      const name = `mult ${mult} stride ${stride} ${pad} dilation ${dilation}`;
      const xShape = [2, 9, 8, 3];
      const filterShape = [3, 3, 3, mult];
      const eff = 3 + 2 * (dilation - 1);
      const dyShape = [2, outSize(9, eff, stride, pad), outSize(8, eff, stride, pad), 3 * mult];
      const attrs = { strides: [stride, stride], dilations: [dilation, dilation], pad, dimRoundingMode: undefined };
      it(`filter grad, ${name}`, async () => {
        const r = await compareKernel('DepthwiseConv2dNativeBackpropFilter', { x: input(xShape, 3), dy: input(dyShape, 4) }, { ...attrs, filterShape });
        expect(r.wasm.shape).toEqual(filterShape);
        expect(r.error).toBeLessThan(TOL);
      });
      it(`input grad, ${name}`, async () => {
        const r = await compareKernel(
          'DepthwiseConv2dNativeBackpropInput',
          { dy: input(dyShape, 5), filter: input(filterShape, 6) },
          { ...attrs, inputShape: xShape },
        );
        expect(r.wasm.shape).toEqual(xShape);
        expect(r.error).toBeLessThan(TOL);
      });
    }
  }
});

describe('MaxPoolGrad matches cpu, including windows of negative values', () => {
  for (const { stride, pad } of GRID) {
    for (const k of [2, 3]) {
      it(`pool ${k} stride ${stride} ${pad}`, async () => {
        const xShape = [2, 7, 6, 3];
        const x = input(xShape, 7);
        // Make one image entirely negative: the stock kernel routes nothing there.
        for (let i = 0; i < x.data.length / 2; i++) x.data[i] = -Math.abs(x.data[i]) - 0.5;
        await initBackend('cpu');
        const xt = tf.tensor4d(x.data, xShape as [number, number, number, number]);
        const pooled = tf.maxPool(xt, k, stride, pad);
        const output = { shape: pooled.shape, data: pooled.dataSync() as Float32Array };
        tf.dispose([xt, pooled]);
        const r = await compareKernel(
          'MaxPoolGrad',
          { dy: input(output.shape, 8, true), input: x, output },
          { filterSize: [k, k], strides: [stride, stride], pad, dimRoundingMode: undefined },
        );
        expect(r.wasm.shape).toEqual(xShape);
        expect(r.error).toBeLessThan(TOL);
        // Every output gradient lands somewhere in the all-negative image too.
        const half = r.wasm.data.length / 2;
        expect(r.wasm.data.subarray(0, half).some((v) => v !== 0)).toBe(true);
      });
    }
  }
});

describe('BatchMatMul matches cpu', () => {
  const cases: [number, number, number][] = [
    [32, 300, 16],
    [300, 32, 16],
    [7, 5, 300],
    [1, 64, 10],
  ];
  for (const [m, k, n] of cases) {
    for (const transposeA of [false, true]) {
      for (const transposeB of [false, true]) {
        it(`m${m} k${k} n${n} transposeA=${transposeA} transposeB=${transposeB}`, async () => {
          const aShape = transposeA ? [k, m] : [m, k];
          const bShape = transposeB ? [n, k] : [k, n];
          const r = await compareKernel('BatchMatMul', { a: input(aShape, 9), b: input(bShape, 10) }, { transposeA, transposeB });
          expect(r.wasm.shape).toEqual([m, n]);
          expect(r.error).toBeLessThan(TOL);
        });
      }
    }
  }
  it('keeps rank-3 batch-1 shapes and falls back for real batches', async () => {
    const one = await compareKernel('BatchMatMul', { a: input([1, 6, 4], 11), b: input([1, 5, 4], 12) }, { transposeA: false, transposeB: true });
    expect(one.wasm.shape).toEqual([1, 6, 5]);
    expect(one.error).toBeLessThan(TOL);
    const many = await compareKernel('BatchMatMul', { a: input([3, 4, 6], 13), b: input([3, 5, 4], 14) }, { transposeA: true, transposeB: true });
    expect(many.wasm.shape).toEqual([3, 6, 5]);
    expect(many.error).toBeLessThan(TOL);
  });
  it('picks the plan that copies fewer elements', () => {
    // dx = dy[32,128] x W[5408,128]^T: transposing W costs 692k, the swapped plan 4k + 173k.
    const c = transposeCosts(32, 128, 5408, false, true);
    expect(c.direct).toBe(128 * 5408);
    expect(c.swapped).toBe(32 * 128 + 32 * 5408);
  });
});

describe('Slice matches cpu and copies only the slice', () => {
  const cases: { shape: number[]; begin: number[]; size: number[] }[] = [
    { shape: [10], begin: [3], size: [4] },
    { shape: [6, 5], begin: [2, 0], size: [3, 5] },
    { shape: [6, 5], begin: [1, 2], size: [4, 2] },
    { shape: [4, 5, 6], begin: [1, 1, 0], size: [2, 3, 6] },
    { shape: [8, 4, 4, 2], begin: [3, 0, 0, 0], size: [4, 4, 4, 2] },
    { shape: [3, 4, 5, 2, 3], begin: [1, 0, 2, 1, 1], size: [2, 4, 2, 1, 2] },
    { shape: [5, 3], begin: [2, 0], size: [0, 3] },
  ];
  for (const c of cases) {
    it(`shape ${c.shape} begin ${c.begin} size ${c.size}`, async () => {
      const r = await compareKernel('Slice', { x: input(c.shape, 15) }, { begin: c.begin, size: c.size });
      expect(r.wasm.shape).toEqual(c.size);
      expect(Array.from(r.wasm.data)).toEqual(Array.from(r.cpu.data));
    });
  }
  it('slices int32 tensors', async () => {
    const data = Int32Array.from({ length: 24 }, (_, i) => i * 3 - 7);
    const r = await compareKernel('Slice', { x: { shape: [4, 6], data, dtype: 'int32' } }, { begin: [1, 2], size: [2, 3] });
    expect(Array.from(r.wasm.data)).toEqual([17, 20, 23, 35, 38, 41]);
  });
});
