/**
 * Kernels that split their work with a helper thread (--kernel-threads 2) give the very bits they
 * give on one thread, on shapes that put the split at every kind of edge: rows and columns left
 * over by the tiles, an odd batch, block edges (tiny conv blocks), both filter-gradient paths.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.ts';
import {
  closeIntraOp,
  holdOneKernelThread,
  intraOp,
  IntraOpPool,
  kernelThreads,
  kernelThreadsWhile,
  runCalls,
  runShared,
  setKernelThreads,
  SplitGovernor,
  startPool,
  type KernelCall,
  type SharedUnit,
} from '../../src/backend/intra-op/index.ts';
import { heapOffset, simdKernels } from '../../src/backend/simd/index.ts';
import { withSharedInstantiate, withSharedMemory } from '../../src/backend/shared-memory.ts';
import { setConvBlocks } from '../../src/backend/wasm-kernels/conv-gemm.ts';
import { BATCH_NORM_TRAIN, BATCH_NORM_TRAIN_GRAD } from '../../src/backend/wasm-kernels/batch-norm.ts';
import { fusedDense } from '../../src/backend/wasm-kernels/fused-layers.ts';
import { RELU_GRAD } from '../../src/backend/wasm-kernels/relu.ts';
import { ADAM_UPDATE } from '../../src/backend/wasm-kernels/adam-update.ts';
import { values } from './compare-backends.ts';

const t = (shape: number[], seed: number) =>
  tf.tensor(
    values(
      shape.reduce((a, b) => a * b, 1),
      seed,
    ),
    shape,
  );
const backend = () => tf.backend() as unknown as BackendWasm;

/** The splits the pool made so far (0 before it exists). */
function splits(): number {
  setKernelThreads(2);
  return intraOp(backend())?.splits ?? 0;
}

/**
 * `f`'s outputs on one thread and on two, as bytes; also how many splits the two-thread run made,
 * so that a case which never split cannot pass unnoticed.
 */
function bothWays(f: () => tf.Tensor | tf.Tensor[]): { one: Uint8Array[]; two: Uint8Array[]; splitsMade: number } {
  const run = (threads: number) => {
    // Free memory full of NaN first, so that an output value a split forgot to write cannot
    // inherit the right one from the previous run's freed buffer.
    tf.fill([16 << 20], Number.NaN).dispose();
    setKernelThreads(threads);
    const out = tf.tidy(f);
    const list = Array.isArray(out) ? out : [out];
    const bytes = list.map((o) => new Uint8Array((o.dataSync() as Float32Array).slice().buffer));
    tf.dispose(list);
    return bytes;
  };
  const one = run(1);
  const before = splits();
  const two = run(2);
  return { one, two, splitsMade: splits() - before };
}

/** Both runs' outputs are equal byte for byte (compared as buffers: toEqual on megabytes is slow). */
function expectSameBits(r: { one: Uint8Array[]; two: Uint8Array[] }): void {
  expect(r.two.length).toBe(r.one.length);
  const differing = r.one.map((a, i) => (Buffer.from(a).equals(Buffer.from(r.two[i]!)) ? -1 : i));
  expect(differing.filter((i) => i >= 0)).toEqual([]);
}

beforeAll(async () => {
  await initBackend('wasm');
  // Split every time, however busy the host: these tests are about bits, not about whether splitting pays.
  setKernelThreads(2);
  intraOp(backend())!.governor = new SplitGovernor(Number.MAX_SAFE_INTEGER);
  setKernelThreads(1);
});
afterEach(() => {
  setKernelThreads(1);
  setConvBlocks();
});
afterAll(async () => {
  await closeIntraOp();
});

describe('the wasm backend on shared memory', () => {
  it('runs in a shared WebAssembly.Memory (what the helper thread needs)', () => {
    const wasm = (backend().wasm as unknown as { asm: { memory: WebAssembly.Memory } }).asm;
    expect(wasm.memory.buffer).toBeInstanceOf(SharedArrayBuffer);
  });

  it('withSharedMemory flips only the limits flag of a memory with a maximum, and refuses others', () => {
    // (module (memory 1 2)) and (module (memory 1))
    const withMax = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 5, 4, 1, 1, 1, 2]);
    const shared = withSharedMemory(withMax)!;
    expect([...shared]).toEqual([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 5, 4, 1, 3, 1, 2]);
    expect(WebAssembly.validate(shared)).toBe(true);
    expect(withSharedMemory(new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 5, 3, 1, 0, 1]))).toBeNull();
    expect(withSharedMemory(new Uint8Array([1, 2, 3]))).toBeNull();
  });

  it('shares the memory of the listed binaries only, and restores WebAssembly.instantiate', async () => {
    // (module (memory (export "m") 1 2)) and the same with a maximum of 3
    const module = (max: number) => new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 5, 4, 1, 1, 1, max, 7, 5, 1, 1, 0x6d, 2, 0]);
    const memoryOf = async (bytes: Uint8Array) =>
      ((await WebAssembly.instantiate(bytes)) as unknown as WebAssembly.WebAssemblyInstantiatedSource).instance.exports.m as WebAssembly.Memory;
    const original = WebAssembly.instantiate;
    const [listed, other] = await withSharedInstantiate([module(2)], async () => [await memoryOf(module(2)), await memoryOf(module(3))]);
    expect(listed!.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(other!.buffer).toBeInstanceOf(ArrayBuffer);
    expect(WebAssembly.instantiate).toBe(original);
  });

  it('falls back to the unshared module where the runtime refuses a shared memory', async () => {
    const module = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 5, 4, 1, 1, 1, 2, 7, 5, 1, 1, 0x6d, 2, 0]);
    const real = WebAssembly.instantiate;
    // A runtime without threads: instantiating a module whose memory is shared (limits flag 3) fails.
    const noThreads = ((bytes: Uint8Array, imports?: WebAssembly.Imports) =>
      bytes[11] === 3 ? Promise.reject(new Error('no shared memory here')) : real(bytes, imports)) as typeof WebAssembly.instantiate;
    (WebAssembly as { instantiate: unknown }).instantiate = noThreads;
    try {
      const got = (await withSharedInstantiate([module], () => WebAssembly.instantiate(module))) as unknown as WebAssembly.WebAssemblyInstantiatedSource;
      expect((got.instance.exports.m as WebAssembly.Memory).buffer).toBeInstanceOf(ArrayBuffer);
    } finally {
      (WebAssembly as { instantiate: unknown }).instantiate = real;
    }
  });
});

describe('--kernel-threads 2 gives the bits of one thread', () => {
  const dense: [number, number, number][] = [
    [32, 5408, 128], // kd-mnist's teacher
    [7, 2000, 24], // rows left over by the 4-row tiles, an odd number of 8-column blocks
    [33, 1500, 136],
  ];
  for (const [m, k, n] of dense) {
    it(`dense forward ${m}x${k} x ${k}x${n}, and both products of its gradient`, () => {
      const x = t([m, k], 1);
      const w = t([k, n], 2);
      const b = t([n], 3);
      const dy = t([m, n], 4);
      const r = bothWays(() => [
        fusedDense(x as tf.Tensor2D, w as tf.Tensor2D, b as tf.Tensor1D, 'relu'),
        tf.matMul(x, dy, true, false),
        tf.matMul(dy, w, false, true),
      ]);
      expect(r.splitsMade).toBeGreaterThanOrEqual(3);
      expectSameBits(r);
      tf.dispose([x, w, b, dy]);
    });
  }

  it('x^T dy and dy w^T with a column count that is not a multiple of 4 (rows left over by the tiles)', () => {
    const x = t([64, 130], 5);
    const dy = t([64, 1000], 6);
    const w = t([130, 1000], 7);
    const r = bothWays(() => [tf.matMul(x, dy, true, false), tf.matMul(dy, w, false, true)]);
    expect(r.splitsMade).toBe(2);
    expectSameBits(r);
    tf.dispose([x, dy, w]);
  });

  const convs: { name: string; x: number[]; f: number[]; stride: number; pad: 'same' | 'valid'; blocks?: number }[] = [
    { name: "kd-mnist's teacher (1 channel: taps read in place)", x: [32, 28, 28, 1], f: [3, 3, 1, 32], stride: 1, pad: 'valid' },
    { name: '32 -> 64 channels (Winograd)', x: [8, 15, 15, 32], f: [3, 3, 32, 64], stride: 1, pad: 'valid' },
    { name: '16 -> 16 channels, same padding (Winograd forward and input gradient)', x: [8, 32, 32, 16], f: [3, 3, 16, 16], stride: 1, pad: 'same' },
    { name: '32 -> 64 channels at stride 2 (reads x in place)', x: [8, 15, 15, 32], f: [3, 3, 32, 64], stride: 2, pad: 'same' },
    { name: 'pointwise 16 -> 24', x: [16, 12, 12, 16], f: [1, 1, 16, 24], stride: 1, pad: 'valid' },
    { name: 'stride 2, same padding, 12 filters', x: [9, 16, 16, 8], f: [3, 3, 8, 12], stride: 2, pad: 'same' },
    { name: 'tiny blocks (many block edges)', x: [5, 13, 11, 3], f: [3, 3, 3, 16], stride: 1, pad: 'same', blocks: 512 },
    { name: "ResNet-8's first layer (3 channels, a padded copy)", x: [8, 32, 32, 3], f: [3, 3, 3, 16], stride: 1, pad: 'same' },
    { name: 'a large im2col matrix (each thread writes its own blocks)', x: [32, 32, 32, 16], f: [3, 3, 16, 16], stride: 1, pad: 'same' },
  ];
  for (const c of convs) {
    it(`convolution ${c.name}: forward, input and filter gradients`, () => {
      if (c.blocks !== undefined) setConvBlocks({ bytes: c.blocks, filterBytes: c.blocks, filterMinRows: 4, directFilterBytes: c.blocks });
      const x = t(c.x, 8) as tf.Tensor4D;
      const f = t(c.f, 9) as tf.Tensor4D;
      const y = tf.conv2d(x, f, c.stride, c.pad);
      const dy = t(y.shape, 10) as tf.Tensor4D;
      const attrs = { strides: [c.stride, c.stride], pad: c.pad, dataFormat: 'NHWC' };
      const r = bothWays(() => [
        tf.conv2d(x, f, c.stride, c.pad),
        tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: f }, { ...attrs, inputShape: c.x } as unknown as tf.NamedAttrMap) as tf.Tensor,
        tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: c.f } as unknown as tf.NamedAttrMap) as tf.Tensor,
      ]);
      expect(r.splitsMade).toBeGreaterThanOrEqual(2);
      expectSameBits(r);
      tf.dispose([x, f, y, dy]);
    });
  }

  it('more helper calls than the control block holds (tiny blocks over a batch of 32), in rounds', () => {
    setConvBlocks({ bytes: 256, filterBytes: 64, filterMinRows: 4, directFilterBytes: 64 });
    const x = t([32, 28, 28, 1], 18) as tf.Tensor4D;
    const dy = t([32, 26, 26, 16], 19) as tf.Tensor4D;
    const attrs = { strides: [1, 1], pad: 'valid', dataFormat: 'NHWC', filterShape: [3, 3, 1, 16] };
    // 21,632 output pixels in blocks of 4: 5,408 blocks, two calls each.
    const r = bothWays(() => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor);
    expect(r.splitsMade).toBeGreaterThan(2);
    expectSameBits(r);
    tf.dispose([x, dy]);
  });

  it('one Adam step over an odd number of weights', () => {
    const n = 40_001;
    const [w, g, m, v] = [t([n], 11), t([n], 12), t([n], 13), tf.abs(t([n], 14))];
    const r = bothWays(() => {
      // Copies: Adam may update m and v in place.
      const inputs = { value: w, gradient: g, m: m.clone(), v: v.clone() };
      const attrs = { learningRate: 0.001, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, c1: 0.1, c2: 0.001 };
      return tf.engine().runKernel(ADAM_UPDATE, inputs, attrs as unknown as tf.NamedAttrMap) as unknown as tf.Tensor[];
    });
    expect(r.splitsMade).toBe(1);
    expectSameBits(r);
    tf.dispose([w, g, m, v]);
  });

  it('batch normalization forward and backward, relu gradient and a bias sum, over an odd number of rows (7 blocks of sums, the last short)', () => {
    const shape = [7, 15, 15, 32];
    const C = 32;
    const [x, dy] = [t(shape, 20), t(shape, 21)];
    const [gamma, beta, mm] = [t([C], 22), t([C], 23), t([C], 24)];
    const mv = tf.abs(t([C], 25));
    const mean = t([C], 26);
    const variance = tf.abs(t([C], 27));
    const attrs = { epsilon: 1e-3, momentum: 0.99 } as unknown as tf.NamedAttrMap;
    const r = bothWays(() => [
      ...(tf.engine().runKernel(BATCH_NORM_TRAIN, { x, gamma, beta, movingMean: mm, movingVariance: mv }, attrs) as unknown as tf.Tensor[]),
      ...(tf.engine().runKernel(BATCH_NORM_TRAIN_GRAD, { dy, x, gamma, mean, variance }, attrs) as unknown as tf.Tensor[]),
      tf.engine().runKernel(RELU_GRAD, { dy, y: x }) as tf.Tensor,
      tf.sum(dy, [0, 1, 2]),
    ]);
    // moments (2 passes), the output, the gradient's sums, dx, relu's gradient, the bias sum
    expect(r.splitsMade).toBe(7);
    expectSameBits(r);
    tf.dispose([x, dy, gamma, beta, mm, mv, mean, variance]);
  });

  it('runShared runs each unit exactly once, on one thread or the other, and adds up what they return', () => {
    // 2x2 windows whose maximum (NaN) no input equals: the pooling gradient returns how many, 16
    // per image here. Units of 1, 2 or 3 images cover 40 images: a unit run twice or skipped
    // changes the total.
    const [n, h, w, c] = [40, 4, 4, 4];
    const [x, dy] = [t([n, h, w, c], 30), t([n, 2, 2, c], 31)];
    const y = tf.fill([n, 2, 2, c], Number.NaN);
    const dx = tf.zeros([n, h, w, c]);
    const at = (v: tf.Tensor) => heapOffset(backend(), v);
    const units: SharedUnit[] = [];
    for (let i = 0, k = 1; i < n; i += k, k = (k % 3) + 1) {
      const m = Math.min(k, n - i);
      const call: KernelCall = [
        'max_pool_grad_2x2',
        at(x) + 4 * i * h * w * c,
        at(y) + 4 * i * 4 * c,
        at(dy) + 4 * i * 4 * c,
        at(dx) + 4 * i * h * w * c,
        m,
        h,
        w,
        c,
        2,
        2,
      ];
      units.push([call, call]);
    }
    setKernelThreads(2);
    const pool = intraOp(backend())!;
    const before = pool.splits;
    expect(runShared(pool, simdKernels(backend())!, units)).toBe(n * 4 * c);
    expect(pool.splits).toBe(before + 1);
    expect(runShared(null, simdKernels(backend())!, units)).toBe(n * 4 * c);
    tf.dispose([x, dy, y, dx]);

    // Adam steps in place: a unit run twice, or not at all, changes the weights.
    const size = 40_001;
    const adamRun = (shared: boolean) => {
      const [wt, g, m, v] = [t([size], 32), t([size], 33), t([size], 34), tf.abs(t([size], 35))];
      const [pw, pg, pm, pv] = [wt, g, m, v].map(at);
      const parts: SharedUnit[] = [];
      for (let from = 0; from < size; from += 2048) {
        const k = Math.min(2048, size - from);
        const call: KernelCall = ['adam', ...[pw, pg, pm, pv, pw, pm, pv].map((p) => p! + 4 * from), k, 0.9, 0.999, 0.1, 0.001, 0.001, 1, 1e-7];
        parts.push([call, call]);
      }
      runShared(shared ? pool : null, simdKernels(backend())!, parts);
      const bytes = [wt, m, v].map((a) => Buffer.from((a.dataSync() as Float32Array).slice().buffer));
      tf.dispose([wt, g, m, v]);
      return bytes;
    };
    const alone = adamRun(false);
    const shared = adamRun(true);
    shared.forEach((b, i) => expect(b.equals(alone[i]!), `output ${i}`).toBe(true));
  });

  it("depthwise convolution (forward, both gradients) and average pooling's gradient, by images", () => {
    const x = t([9, 25, 5, 64], 21) as tf.Tensor4D;
    const f = t([3, 3, 64, 1], 22) as tf.Tensor4D;
    const y = tf.depthwiseConv2d(x, f, 1, 'same');
    const dy = t(y.shape, 23) as tf.Tensor4D;
    const attrs = { strides: [1, 1], dilations: [1, 1], pad: 'same' };
    const r = bothWays(() => [
      tf.depthwiseConv2d(x, f, 1, 'same'),
      tf
        .engine()
        .runKernel('DepthwiseConv2dNativeBackpropInput', { dy, filter: f }, { ...attrs, inputShape: x.shape } as unknown as tf.NamedAttrMap) as tf.Tensor,
      tf.engine().runKernel('DepthwiseConv2dNativeBackpropFilter', { x, dy }, { ...attrs, filterShape: f.shape } as unknown as tf.NamedAttrMap) as tf.Tensor,
      tf.grad((a: tf.Tensor) =>
        tf
          .avgPool(a as tf.Tensor4D, [5, 5], 1, 'valid')
          .square()
          .sum(),
      )(x),
    ]);
    // the forward pass, the input gradient and the pooling gradient; the filter gradient stays on one thread
    expect(r.splitsMade).toBeGreaterThanOrEqual(3);
    expectSameBits(r);
    tf.dispose([x, f, y, dy]);
  });

  it('max-pool gradient over an odd batch', () => {
    const x = t([9, 26, 26, 32], 15) as tf.Tensor4D;
    const r = bothWays(() =>
      tf.grad((a: tf.Tensor) =>
        tf
          .maxPool(a as tf.Tensor4D, 2, 2, 'valid')
          .square()
          .sum(),
      )(x),
    );
    expect(r.splitsMade).toBeGreaterThanOrEqual(1);
    expectSameBits(r);
    x.dispose();
  });
});

describe('the helper thread', () => {
  it('reports a kernel that traps on it as a KdqError, and keeps working', () => {
    setKernelThreads(2);
    const pool = intraOp(backend())!;
    // An element-wise kernel pointed past the end of memory traps.
    const far = 0x7fff_fff0;
    expect(() => pool.run([['relu_grad', far, far, far, 64]], () => undefined)).toThrow(/intra-op thread failed: .*out of bounds.*--kernel-threads 1/);
    const x = t([32, 3000], 16);
    const w = t([3000, 64], 17);
    const r = bothWays(() => tf.matMul(x, w, false, false).add(fusedDense(x as tf.Tensor2D, w as tf.Tensor2D, tf.zeros([64]) as tf.Tensor1D, 'linear')));
    expectSameBits(r);
    tf.dispose([x, w]);
  });

  it('answers with why when the helper thread could not start, instead of leaving the main thread waiting', async () => {
    // (module (import "env" "f" (func))): the helper gives it only the memory, so instantiating fails.
    const needsF = new WebAssembly.Module(new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 4, 1, 0x60, 0, 0, 2, 9, 1, 3, 0x65, 0x6e, 0x76, 1, 0x66, 0, 0]));
    const memory = (backend().wasm as unknown as { asm: { memory: WebAssembly.Memory } }).asm.memory;
    const broken = new IntraOpPool(memory, [needsF], ['f']);
    try {
      expect(() => broken.run([['f']], () => undefined)).toThrow(/the helper thread could not start: .*--kernel-threads 1/);
    } finally {
      await broken.close();
    }
  });

  it('does not wait for a helper that has not come to a claimed split, and a late helper takes nothing of it', async () => {
    // A helper that sleeps after every batch (no spinning): it wakes long after 16 tiny units are
    // done, so most claimed splits end without it. Adam steps in place: a unit run twice, or a
    // late helper running a unit of a split that is over, changes the weights.
    const memory = (backend().wasm as unknown as { asm: { memory: WebAssembly.Memory } }).asm.memory;
    const sleepy = startPool(memory, 0)!;
    const simd = simdKernels(backend())!;
    const at = (a: tf.Tensor) => heapOffset(backend(), a);
    try {
      const run = (pooled: boolean) => {
        const [wt, g, m, v] = [t([64 * 16], 40), t([64 * 16], 41), t([64 * 16], 42), tf.abs(t([64 * 16], 43))];
        const [w2, g2, m2, v2] = [t([4096], 44), t([4096], 45), t([4096], 46), tf.abs(t([4096], 47))];
        const adam = (ps: number[], from: number, k: number): KernelCall => [
          'adam',
          ...[ps[0]!, ps[1]!, ps[2]!, ps[3]!, ps[0]!, ps[2]!, ps[3]!].map((p) => p + 4 * from),
          k,
          0.9,
          0.999,
          0.1,
          0.001,
          0.001,
          1,
          1e-7,
        ];
        const ps = [wt, g, m, v].map(at) as number[];
        const qs = [w2, g2, m2, v2].map(at) as number[];
        const units: KernelCall[] = Array.from({ length: 16 }, (_, u) => adam(ps, 64 * u, 64));
        for (let round = 0; round < 200; round++) {
          if (pooled) sleepy.runClaimed(units, (i) => runCalls(simd, [units[i]!]));
          else runCalls(simd, units);
          // every tenth round a split in halves: the helper must run its half exactly once
          if (round % 10 === 9) {
            const halves = [adam(qs, 0, 2048), adam(qs, 2048, 2048)] as const;
            if (pooled) sleepy.run([halves[1]], () => runCalls(simd, [halves[0]]));
            else runCalls(simd, [...halves]);
          }
        }
        const bytes = [wt, m, v, w2, m2, v2].map((a) => Buffer.from((a.dataSync() as Float32Array).slice().buffer));
        tf.dispose([wt, g, m, v, w2, g2, m2, v2]);
        return bytes;
      };
      const alone = run(false);
      const pooled = run(true);
      pooled.forEach((b, i) => expect(b.equals(alone[i]!), `output ${i}`).toBe(true));
      expect(sleepy.helperless).toBeGreaterThan(0);
    } finally {
      await sleepy.close();
    }
  });

  it('rethrows what the main thread threw after the helper is done', () => {
    setKernelThreads(2);
    const pool = intraOp(backend())!;
    expect(() =>
      pool.run([], () => {
        throw new Error('main side');
      }),
    ).toThrow('main side');
  });

  it('is not used at --kernel-threads 1', () => {
    setKernelThreads(1);
    expect(kernelThreads()).toBe(1);
    expect(intraOp(backend())).toBeNull();
    expect(() => setKernelThreads(3)).toThrow(/--kernel-threads must be a whole number from 1 to 2, got 3/);
  });
});

describe('whether splitting pays', () => {
  it('pauses splits for 1 s after a window where the main thread waited longer than its share took, doubling while it lasts', () => {
    const g = new SplitGovernor(4, 1000, 8000);
    expect(g.allows(0)).toBe(true);
    for (let i = 0; i < 4; i++) g.record(1, 0.5, 10); // the helper kept up
    expect(g.allows(10)).toBe(true);
    for (let i = 0; i < 4; i++) g.record(1, 3, 20); // the helper came late
    expect([g.allows(20), g.allows(1019), g.allows(1020)]).toEqual([false, false, true]);
    expect(g.pauses).toBe(1);
    for (let i = 0; i < 4; i++) g.record(1, 3, 1100);
    expect([g.allows(3099), g.allows(3100)]).toEqual([false, true]);
    for (let i = 0; i < 4; i++) g.record(1, 3, 4000);
    for (let i = 0; i < 4; i++) g.record(1, 3, 9000);
    for (let i = 0; i < 4; i++) g.record(1, 3, 20_000);
    expect([g.allows(27_999), g.allows(28_000)]).toEqual([false, true]); // at most 8 s here
    for (let i = 0; i < 4; i++) g.record(1, 0.2, 30_000); // it pays again: the next pause is short
    for (let i = 0; i < 4; i++) g.record(1, 3, 31_000);
    expect([g.allows(31_999), g.allows(32_000)]).toEqual([false, true]);
  });

  it('keeps kernels on one thread while data-parallel training holds them', () => {
    setKernelThreads(2);
    const release = holdOneKernelThread();
    expect(kernelThreads()).toBe(1);
    expect(intraOp(backend())).toBeNull();
    release();
    release(); // twice is once
    expect(kernelThreads()).toBe(2);
  });
});

describe('sharing the cores between stages', () => {
  it('gives each running stage its share: 2 threads alone on 2 cores, 1 each for two stages', () => {
    expect(kernelThreadsWhile(1, 2, 2)).toBe(2);
    expect(kernelThreadsWhile(2, 2, 2)).toBe(1);
    expect(kernelThreadsWhile(3, 2, 2)).toBe(1);
    expect(kernelThreadsWhile(0, 2, 2)).toBe(2);
    expect(kernelThreadsWhile(1, 1, 8)).toBe(1);
    expect(kernelThreadsWhile(2, 2, 4)).toBe(2);
  });
});
