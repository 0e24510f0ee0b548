/**
 * KdqConvReluPool against the kernels it replaces (KdqFusedConv2D with relu, then MaxPool): the
 * pooled output and every gradient must be the same bits, on one thread and two.
 */
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.ts';
import { setKernelThreads } from '../../src/backend/intra-op/index.ts';
import { heapOffset, simdKernels } from '../../src/backend/simd/index.ts';
import { setConvBlocks } from '../../src/backend/wasm-kernels/conv-gemm.ts';
import { CONV_RELU_POOL, convReluPoolOp, setConvPoolOnePass, setConvReluPool, UNPOOL_RELU_GRAD } from '../../src/backend/wasm-kernels/conv-relu-pool.ts';
import { FUSED_CONV2D, fusedConv2d } from '../../src/backend/wasm-kernels/fused-layers.ts';
import type { LayerSpec } from '../../src/config/types.ts';
import { buildModel } from '../../src/models/build.ts';
import { values } from './compare-backends.ts';

beforeAll(async () => {
  await initBackend('wasm');
});

afterEach(() => {
  setKernelThreads(1);
  setConvPoolOnePass(true);
  setConvBlocks();
});

interface Case {
  name: string;
  x: [number, number, number, number];
  filters: number;
  kernel: number;
  strides: [number, number];
  pad: 'valid' | 'same';
  /** The input's gradient too (a convolution that is not the first layer). */
  inputGrad: boolean;
}

const CASES: Case[] = [
  { name: "kd-mnist's teacher block", x: [4, 28, 28, 1], filters: 32, kernel: 3, strides: [1, 1], pad: 'valid', inputGrad: false },
  { name: 'an odd output (7x7): a row and a column in no window', x: [3, 9, 9, 2], filters: 8, kernel: 3, strides: [1, 1], pad: 'valid', inputGrad: true },
  { name: "'same' over 16 channels", x: [2, 8, 10, 16], filters: 16, kernel: 3, strides: [1, 1], pad: 'same', inputGrad: true },
  { name: 'stride 2', x: [2, 13, 13, 3], filters: 12, kernel: 3, strides: [2, 2], pad: 'valid', inputGrad: false },
];

/** Every output and gradient of the block, as bit patterns. */
function run(c: Case, fused: boolean, poison?: (x: Float32Array) => void) {
  const xv = values(
    c.x.reduce((a, b) => a * b, 1),
    11,
  );
  poison?.(xv);
  const x = tf.tensor4d(xv, c.x);
  const filter = tf.tensor4d(values(c.kernel * c.kernel * c.x[3] * c.filters, 12), [c.kernel, c.kernel, c.x[3], c.filters]);
  // biases around 0 so that some windows are all zero after relu
  const bias = tf.tensor1d(values(c.filters, 13).map((v) => v * 0.5));
  const weight = tf.tensor1d(values(c.filters, 14));
  const attrs = { strides: c.strides, pad: c.pad };
  const f = (xi: tf.Tensor, fi: tf.Tensor, bi: tf.Tensor) => {
    const [x4, f4, b1] = [xi as tf.Tensor4D, fi as tf.Tensor4D, bi as tf.Tensor1D];
    const p = fused ? convReluPoolOp(x4, f4, b1, attrs) : tf.maxPool(fusedConv2d(x4, f4, b1, { ...attrs, activation: 'relu' }), 2, 2, 'valid');
    return tf.sum(tf.mul(p, weight));
  };
  const grads = c.inputGrad ? tf.grads(f)([x, filter, bias]) : tf.grads((fi: tf.Tensor, bi: tf.Tensor) => f(x, fi, bi))([filter, bias]);
  const pooled = tf.tidy(() =>
    fused ? convReluPoolOp(x, filter, bias, attrs) : tf.maxPool(fusedConv2d(x, filter, bias, { ...attrs, activation: 'relu' }), 2, 2, 'valid'),
  );
  const bits = [pooled, ...grads].map((t) => Array.from(new Int32Array((t.dataSync() as Float32Array).slice().buffer)));
  tf.dispose([x, filter, bias, weight, pooled, ...grads]);
  return bits;
}

/** Runs `fn` with the wasm kernels `names` reporting each call to `onCall`, then puts them back. */
function whileRecording(names: string[], onCall: (name: string) => void, fn: () => void): void {
  const saved = names.map((name) => {
    const k = tf.getKernel(name, 'wasm')!;
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel({
      ...k,
      kernelFunc: (a) => {
        onCall(name);
        return k.kernelFunc(a);
      },
    });
    return k;
  });
  try {
    fn();
  } finally {
    for (const k of saved) {
      tf.unregisterKernel(k.kernelName, 'wasm');
      tf.registerKernel(k);
    }
  }
}

describe('KdqConvReluPool gives the bits of a relu convolution then MaxPool', () => {
  // convReluPoolOp is called directly here; layers take it only while a gradient is recorded
  for (const c of CASES) {
    for (const threads of [1, 2]) {
      it(`${c.name}, ${threads} thread(s)`, () => {
        setKernelThreads(threads);
        const fused = run(c, true);
        const apart = run(c, false);
        expect(fused.length).toBe(c.inputGrad ? 4 : 3);
        for (let i = 0; i < fused.length; i++) expect(fused[i]).toEqual(apart[i]);
        // the case has windows whose maximum relu zeroed, and others it passed
        expect(fused[0]!.some((b) => b === 0)).toBe(true);
        expect(fused[0]!.some((b) => b !== 0)).toBe(true);
      });
    }
  }

  it('runs the one-pass backward kernel where the maxima are numbers, and the separate kernels where one is NaN', () => {
    const c = CASES[1]!;
    const calls: string[] = [];
    whileRecording(
      [UNPOOL_RELU_GRAD, 'MaxPoolGrad'],
      (name) => calls.push(name),
      () => {
        run(c, true);
        expect(calls).toEqual([UNPOOL_RELU_GRAD]);
        calls.length = 0;
        const poison = (x: Float32Array) => {
          x[5] = NaN;
        };
        const fused = run(c, true, poison);
        expect(calls).toEqual(['MaxPoolGrad']);
        const apart = run(c, false, poison);
        for (let i = 0; i < fused.length; i++) expect(fused[i]).toEqual(apart[i]);
      },
    );
  });

  /** Kernels one training step of a model built from `layers` runs. */
  function kernelsOfStep(layers: LayerSpec[], train = true, channels = 2): Set<string> {
    const model = buildModel(layers, [12, 12, channels], 3);
    const seen = new Set<string>();
    try {
      whileRecording(
        [CONV_RELU_POOL, 'MaxPool', FUSED_CONV2D],
        (name) => seen.add(name),
        () => {
          const x = tf.tensor4d(values(2 * 12 * 12 * channels, 31), [2, 12, 12, channels]);
          if (train) {
            const g = tf.variableGrads(() => tf.sum(model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar);
            tf.dispose([g.value, ...Object.values(g.grads)]);
          } else {
            tf.dispose(model.predict(x) as tf.Tensor);
          }
          x.dispose();
        },
      );
    } finally {
      model.dispose();
    }
    return seen;
  }

  const conv = (activation: 'relu' | 'linear'): LayerSpec => ({ type: 'conv2d', filters: 8, kernelSize: 3, activation }) as LayerSpec;
  const pool = (extra: object = {}): LayerSpec => ({ type: 'maxPooling2d', poolSize: 2, ...extra }) as LayerSpec;
  const head: LayerSpec[] = [{ type: 'flatten' } as LayerSpec, { type: 'dense', units: 3, activation: 'linear' } as LayerSpec];

  it('serves a relu conv layer followed by a 2x2 max pool at stride 2, and no other pair', () => {
    // the block pools as it convolves: no KdqFusedConv2D (its output is never written)
    expect(kernelsOfStep([conv('relu'), pool(), ...head])).toEqual(new Set([CONV_RELU_POOL]));
    setConvPoolOnePass(false);
    expect(kernelsOfStep([conv('relu'), pool(), ...head])).toEqual(new Set([CONV_RELU_POOL, FUSED_CONV2D]));
    setConvPoolOnePass(true);
    expect(kernelsOfStep([conv('relu'), pool({ strides: [2, 2], padding: 'valid' }), ...head]).has(CONV_RELU_POOL)).toBe(true);
    // inference takes the block where it pools in one pass (conv_direct's convolutions)...
    expect(kernelsOfStep([conv('relu'), pool(), ...head], false)).toEqual(new Set([CONV_RELU_POOL]));
    // ...not where it would write the convolution's output and routing bytes for no backward pass:
    // a 3x3 convolution over 8 channels goes through Winograd
    expect(kernelsOfStep([conv('relu'), pool(), ...head], true, 8)).toEqual(new Set([CONV_RELU_POOL, FUSED_CONV2D]));
    expect(kernelsOfStep([conv('relu'), pool(), ...head], false, 8)).toEqual(new Set(['MaxPool', FUSED_CONV2D]));
    setConvPoolOnePass(false);
    expect(kernelsOfStep([conv('relu'), pool(), ...head], false)).toEqual(new Set(['MaxPool', FUSED_CONV2D]));
    setConvPoolOnePass(true);
    for (const layers of [
      [conv('linear'), pool(), ...head],
      [conv('relu'), pool({ padding: 'same' }), ...head],
      [conv('relu'), pool({ strides: 1 }), ...head],
      [conv('relu'), pool({ poolSize: 3 }), ...head],
      [conv('relu'), { type: 'averagePooling2d', poolSize: 2 } as LayerSpec, ...head],
    ]) {
      const seen = kernelsOfStep(layers);
      expect(seen.has(CONV_RELU_POOL)).toBe(false);
      expect(seen.has(FUSED_CONV2D)).toBe(true);
    }
  });

  /**
   * The weights of a model built from `layers` after three Adam steps on one batch (seeded by
   * `seed`), then the trained model's predictions (inference), as bit patterns; with the block on
   * (`fused`) or the separate kernels, and the block in one pass or two.
   */
  function trainedBits(layers: LayerSpec[], seed: number, fused: boolean, onePass = true): number[][] {
    setConvReluPool(fused);
    setConvPoolOnePass(onePass);
    const model = buildModel(layers, [12, 12, 2], 5);
    const opt = tf.train.adam(0.01);
    const x = tf.tensor4d(values(4 * 12 * 12 * 2, seed), [4, 12, 12, 2]);
    for (let i = 0; i < 3; i++) tf.dispose(opt.minimize(() => tf.sum(tf.square(model.apply(x, { training: true }) as tf.Tensor)) as tf.Scalar, true) ?? []);
    const predicted = model.predict(x) as tf.Tensor;
    const bits = [...model.getWeights(), predicted].map((w) => Array.from(new Int32Array((w.dataSync() as Float32Array).slice().buffer)));
    tf.dispose([x, predicted]);
    opt.dispose();
    model.dispose();
    return bits;
  }

  // functional models (branches): the block where the convolution's only reader is the pool
  const named = (spec: LayerSpec, name: string, inputs?: string[]): LayerSpec => ({ ...spec, name, ...(inputs ? { inputs } : {}) }) as LayerSpec;
  const residual: LayerSpec[] = [
    named(conv('relu'), 'c'),
    named(pool(), 'p'),
    named({ type: 'conv2d', filters: 8, kernelSize: 1, activation: 'linear' } as LayerSpec, 'q'),
    { type: 'add', inputs: ['p', 'q'] } as LayerSpec,
    ...head,
  ];

  it('serves the block in a functional model too, where nothing else reads the convolution', () => {
    expect(kernelsOfStep(residual)).toEqual(new Set([CONV_RELU_POOL, FUSED_CONV2D]));
    // a second reader of the convolution's output: the layers' own kernels
    const shared: LayerSpec[] = [
      named(conv('relu'), 'c'),
      named(pool(), 'p'),
      named(pool(), 'p2', ['c']),
      { type: 'add', inputs: ['p', 'p2'] } as LayerSpec,
      ...head,
    ];
    const seen = kernelsOfStep(shared);
    expect(seen.has(CONV_RELU_POOL)).toBe(false);
    expect(seen.has('MaxPool')).toBe(true);
  });

  it('trains a functional model to the same weights and predictions as the separate kernels do', () => {
    try {
      const fused = trainedBits(residual, 43, true);
      const apart = trainedBits(residual, 43, false);
      expect(fused.length).toBe(7);
      expect(fused).toEqual(apart);
    } finally {
      setConvReluPool(true);
    }
  });

  it('trains a built model to the same weights as the separate kernels do', () => {
    const layers = [conv('relu'), pool(), conv('relu'), pool(), ...head];
    try {
      const fused = trainedBits(layers, 41, true);
      const twoPass = trainedBits(layers, 41, true, false);
      const apart = trainedBits(layers, 41, false);
      expect(fused.length).toBe(7);
      expect(fused).toEqual(apart);
      expect(twoPass).toEqual(apart);
    } finally {
      setConvReluPool(true);
    }
  });

  it('leaves no tensor behind outside a gradient tape', () => {
    const c = CASES[0]!;
    const x = tf.tensor4d(
      values(
        c.x.reduce((a, b) => a * b, 1),
        21,
      ),
      c.x,
    );
    const filter = tf.randomNormal([3, 3, 1, 32], 0, 1, 'float32', 1) as tf.Tensor4D;
    const bias = tf.zeros([32]) as tf.Tensor1D;
    const before = tf.memory().numTensors;
    const p = convReluPoolOp(x, filter, bias, { strides: [1, 1], pad: 'valid' });
    expect(tf.memory().numTensors).toBe(before + 1);
    expect(p.shape).toEqual([4, 13, 13, 32]);
    tf.dispose([x, filter, bias, p]);
    expect(tf.getKernel(CONV_RELU_POOL, 'wasm')).toBeDefined();
  });
});

describe("conv_direct's pooling mode gives the bits of conv_direct then max_pool_2x2_arg", () => {
  /** KdqConvReluPool's raw outputs (pooled values, routing bytes) as bit patterns, with the convolution's output written or not. */
  function outputs(
    x: number[],
    filters: number,
    kernel: number,
    strides: [number, number],
    pad: 'valid' | 'same',
    onePass: boolean,
    routing = true,
    nanAt = -1,
  ) {
    setConvPoolOnePass(onePass);
    const size = x.reduce((a, b) => a * b, 1);
    const xv = values(size, 21);
    if (nanAt >= 0) xv[nanAt] = NaN;
    const xt = tf.tensor4d(xv, x as [number, number, number, number]);
    const filter = tf.tensor4d(values(kernel * kernel * x[3]! * filters, 22), [kernel, kernel, x[3]!, filters]);
    const bias = tf.tensor1d(values(filters, 23).map((v) => v * 0.5));
    const attrs = { strides, pad, routing } as unknown as tf.NamedAttrMap;
    const outs = tf.engine().runKernel(CONV_RELU_POOL, { x: xt, filter, bias }, attrs) as unknown as tf.Tensor[];
    const bits = outs.map((t) => Array.from(new Int32Array((t.dataSync() as Float32Array | Int32Array).slice().buffer)));
    tf.dispose([xt, filter, bias, ...outs]);
    return bits;
  }

  const SHAPES: { name: string; x: number[]; filters: number; kernel: number; strides: [number, number]; pad: 'valid' | 'same' }[] = [
    { name: "kd-mnist's teacher block", x: [6, 28, 28, 1], filters: 32, kernel: 3, strides: [1, 1], pad: 'valid' },
    { name: "kd-mnist's student block", x: [5, 28, 28, 1], filters: 16, kernel: 3, strides: [1, 1], pad: 'valid' },
    {
      name: "'same' padding, odd sizes (9x11): windows over the border read im2col rows",
      x: [2, 9, 11, 3],
      filters: 8,
      kernel: 3,
      strides: [1, 1],
      pad: 'same',
    },
    { name: 'a 5x5 filter, 12 channels (a half panel)', x: [3, 14, 12, 2], filters: 12, kernel: 5, strides: [1, 1], pad: 'same' },
    { name: 'stride 2, an odd output', x: [2, 15, 15, 3], filters: 4, kernel: 3, strides: [2, 2], pad: 'valid' },
  ];

  for (const c of SHAPES) {
    for (const threads of [1, 2]) {
      it(`${c.name}, ${threads} thread(s), blocks of a few windows`, () => {
        setKernelThreads(threads);
        // small blocks: many blocks, shared between the threads, ending mid-image
        setConvBlocks({ bytes: 1024 });
        const calls: string[] = [];
        const simd = simdKernels(tf.backend() as never)! as unknown as Record<string, (...a: number[]) => number>;
        const original = simd.conv_direct!;
        simd.conv_direct = (...a: number[]) => {
          // flags (argument 9): 8 is the pooling mode
          if ((a[8]! & 8) !== 0) calls.push('pooled');
          return original(...a);
        };
        let one: number[][];
        try {
          one = outputs(c.x, c.filters, c.kernel, c.strides, c.pad, true);
        } finally {
          simd.conv_direct = original;
        }
        const two = outputs(c.x, c.filters, c.kernel, c.strides, c.pad, false);
        // several blocks (counted on one thread: with two, the kernels run from the shared pool's own table)
        if (threads === 1) expect(calls.length).toBeGreaterThan(1);
        expect(one[1]!.length).toBeGreaterThan(0);
        expect(two[1]!.length).toBe(one[1]!.length);
        expect(one[0]).toEqual(two[0]);
        expect(one[1]).toEqual(two[1]);
        // some maxima relu zeroed, some windows routed past their first input
        expect(one[0]!.some((b) => b === 0)).toBe(true);
        expect(one[1]!.some((b) => b !== 0)).toBe(true);
        // without routing bytes (inference): the same maxima, no bytes, no convolution output kept
        const maxima = outputs(c.x, c.filters, c.kernel, c.strides, c.pad, true, false);
        expect(maxima[0]).toEqual(two[0]);
        expect(maxima[1]!.length).toBe(0);
        expect(maxima[2]!.length).toBe(0);
      });
    }
  }

  it('keeps a NaN maximum a NaN without routing bytes, as MaxPool does', () => {
    const c = SHAPES[2]!;
    const maxima = outputs(c.x, c.filters, c.kernel, c.strides, c.pad, true, false, 7);
    const apart = outputs(c.x, c.filters, c.kernel, c.strides, c.pad, false, false, 7);
    const nan = (bits: number[]) => bits.filter((b) => Number.isNaN(new Float32Array(new Int32Array([b]).buffer)[0])).length;
    expect(nan(maxima[0]!)).toBeGreaterThan(0);
    expect(maxima[0]).toEqual(apart[0]);
  });
});

describe('routing bytes name the first input of a window equal to its maximum', () => {
  /** Windows' inputs in row-major order, chosen for ties, signed zeros and negative maxima. */
  const TUPLES: [number, number, number, number][] = [
    [1, 1, 1, 1],
    [0, 2, 2, 0],
    [0, 0, 3, 3],
    [0, 0, 0, 5],
    [2, 5, 5, 5],
    [4, 1, 4, 4],
    [1, 2, 3, 4],
    [4, 3, 2, 1],
    [-0, 0, 0, 0],
    [0, -0, 0, 0],
    [-1, -0, 0, -2],
    [-0, -1, -0, 0],
    [-3, -2, -2, -5],
    [-4, -4, -1, -1],
    [0.5, 0, 0.5, 0.25],
    [0, 0, 0, 0],
  ];

  /** wasm's f32x4.max: -0 below +0. */
  const max = (a: number, b: number) => (a > b || (a === b && Object.is(b, -0)) ? a : b);

  /** Index of the first input equal (===, so -0 equals +0) to the window's maximum. */
  const firstMax = (t: readonly number[]) => {
    const m = t.reduce(max);
    return t.findIndex((v) => v === m);
  };

  /** `tuples` laid out as 2x2 windows of an [1, 2 rows, 2 cols, channels] image: window w, channel c takes tuples[w * channels + c]. */
  function image(tuples: readonly (readonly number[])[], rows: number, cols: number, channels: number): Float32Array {
    const W = 2 * cols;
    const x = new Float32Array(4 * rows * cols * channels);
    tuples.forEach((t, i) => {
      const w = Math.floor(i / channels);
      const c = i % channels;
      const [py, px] = [Math.floor(w / cols), w % cols];
      t.forEach((v, r) => {
        x[((2 * py + (r >> 1)) * W + 2 * px + (r & 1)) * channels + c] = v;
      });
    });
    return x;
  }

  it('max_pool_2x2_arg, on every tuple, and counts NaN maxima as misses', () => {
    const backend = tf.backend() as never;
    const simd = simdKernels(backend)!;
    const run = (tuples: readonly (readonly number[])[]) => {
      const x = tf.tensor4d(image(tuples, 2, 2, 4), [1, 4, 4, 4]);
      const y = tf.zeros([1, 2, 2, 4]);
      const arg = tf.zeros([4], 'int32');
      const misses = simd.max_pool_2x2_arg(heapOffset(backend, x), heapOffset(backend, y), heapOffset(backend, arg), 1, 4, 4, 4, 2, 2);
      const bytes = Array.from(new Uint8Array((arg.dataSync() as Int32Array).slice().buffer));
      const maxima = Array.from(y.dataSync());
      tf.dispose([x, y, arg]);
      return { misses, bytes, maxima };
    };
    const r = run(TUPLES);
    expect(r.misses).toBe(0);
    expect(r.bytes).toEqual(TUPLES.map(firstMax));
    expect(r.bytes).toEqual([0, 1, 2, 3, 1, 0, 3, 0, 0, 0, 1, 0, 1, 2, 0, 0]);
    r.maxima.forEach((m, i) => expect(Object.is(m, Math.fround(TUPLES[i]!.reduce(max)))).toBe(true));
    const nan = TUPLES.map((t, i) => (i === 3 || i === 9 ? [t[0], NaN, t[2], t[3]] : t));
    expect(run(nan).misses).toBe(2);
  });

  it("conv_direct's pooling mode, on the same tuples after relu", () => {
    // a 2x2 filter that keeps its first tap only: each output pixel is its input pixel (plus zeros), then relu
    const tuples = TUPLES.map((t) => t.map((v) => v * 3));
    const x = new Float32Array(9 * 9);
    const img = image(tuples, 4, 4, 1);
    for (let i = 0; i < 8; i++) for (let j = 0; j < 8; j++) x[i * 9 + j] = img[i * 8 + j]!;
    const filter = tf.tensor4d([1, 1, 1, 1, ...new Array<number>(12).fill(0)], [2, 2, 1, 4]);
    const xt = tf.tensor4d(x, [1, 9, 9, 1]);
    const bias = tf.zeros([4]);
    const outs = tf.engine().runKernel(CONV_RELU_POOL, { x: xt, filter, bias }, {
      strides: [1, 1],
      pad: 'valid',
      routing: true,
    } as unknown as tf.NamedAttrMap) as unknown as tf.Tensor[];
    const bytes = Array.from(new Uint8Array((outs[1]!.dataSync() as Int32Array).slice().buffer));
    // window w, channel c: every channel sees the same tuple
    const relu = (t: readonly number[]) => t.map((v) => (v > 0 ? v : 0));
    expect(bytes).toEqual(tuples.flatMap((t) => [0, 1, 2, 3].map(() => firstMax(relu(t)))));
    expect(bytes.some((b) => b === 3) && bytes.some((b) => b === 2) && bytes.some((b) => b === 1)).toBe(true);
    tf.dispose([xt, filter, bias, ...outs]);
  });
});
