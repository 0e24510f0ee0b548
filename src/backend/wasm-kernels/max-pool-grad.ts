/**
 * MaxPoolGrad for the wasm backend. The stock kernel is slow and wrong when a window holds only
 * negative values (it starts its running maximum at 0). This one routes each output gradient to the
 * first maximum of its window in row-major order, like the cpu backend, so the two agree exactly;
 * padding is never a maximum.
 */
import type * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { simdKernels } from '../simd/index.ts';
import { isPool2x2, pool2x2Images, poolInfo, type PoolAttrs } from './pool-geometry.ts';
import { heapF32 } from './wasm-heap.ts';

/** A pooling window clipped to the image: rows [r0, r1), columns [c0, c1). */
interface Window {
  r0: number;
  r1: number;
  c0: number;
  c1: number;
}

/**
 * Flat index of the first (row-major) element of channel `ch` in the window that equals `m`, or
 * when `m` is NaN (the forward max propagated one) the first maximum ignoring NaNs, as cpu does;
 * -1 when there is none.
 */
function argmaxInWindow(x: Float32Array, w: Window, rowStart: number, width: number, C: number, ch: number, m: number): number {
  if (m === m) {
    for (let r = w.r0; r < w.r1; r++) {
      const base = (rowStart + r) * width;
      for (let c = w.c0; c < w.c1; c++) {
        const i = (base + c) * C + ch;
        if (x[i] === m) return i;
      }
    }
    return -1;
  }
  let best = -Infinity;
  let where = -1;
  for (let r = w.r0; r < w.r1; r++) {
    const base = (rowStart + r) * width;
    for (let c = w.c0; c < w.c1; c++) {
      const i = (base + c) * C + ch;
      if (x[i] > best) {
        best = x[i];
        where = i;
      }
    }
  }
  return where;
}

function maxPoolGrad(args: {
  inputs: { dy: tf.TensorInfo; input: tf.TensorInfo; output: tf.TensorInfo };
  backend: BackendWasm;
  attrs: PoolAttrs;
}): tf.TensorInfo {
  const { inputs, backend, attrs } = args;
  const { dy, input, output } = inputs;
  // tf.js' maxPool gradient only exists for dilation 1, so windows are dense.
  const info = poolInfo(input.shape, attrs);
  const { batchSize, inHeight, inWidth, inChannels: C, outHeight, outWidth } = info;
  const { strideHeight, strideWidth, filterHeight, filterWidth } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const out = backend.makeOutput([...input.shape], 'float32');
  // The common case (2x2 windows at stride 2, no padding, channels in fours) in SIMD; it reports
  // windows whose maximum matched no input (NaN), and those fall through to the general loop.
  const simd = simdKernels(backend);
  if (simd !== null && isPool2x2(info)) {
    const misses = pool2x2Images(backend, simd, info, 'max_pool_grad_2x2', [
      [input, 'in'],
      [output, 'out'],
      [dy, 'out'],
      [out, 'in'],
    ]);
    if (misses === 0) return out;
  }
  const dx = heapF32(backend, out);
  const xv = heapF32(backend, input);
  const dyv = heapF32(backend, dy);
  // The forward output holds each window's maximum, so finding where it came from is a search
  // that usually stops early, with no running state to reset per window.
  const yv = heapF32(backend, output);
  dx.fill(0);
  const w: Window = { r0: 0, r1: 0, c0: 0, c1: 0 };
  for (let n = 0; n < batchSize; n++) {
    const rowStart = n * inHeight;
    for (let y = 0; y < outHeight; y++) {
      const rc = y * strideHeight - top;
      w.r0 = Math.max(0, rc);
      w.r1 = Math.min(inHeight, rc + filterHeight);
      for (let xo = 0; xo < outWidth; xo++) {
        const cc = xo * strideWidth - left;
        w.c0 = Math.max(0, cc);
        w.c1 = Math.min(inWidth, cc + filterWidth);
        const o = ((n * outHeight + y) * outWidth + xo) * C;
        for (let ch = 0; ch < C; ch++) {
          const i = argmaxInWindow(xv, w, rowStart, inWidth, C, ch, yv[o + ch]);
          if (i >= 0) dx[i] += dyv[o + ch];
        }
      }
    }
  }
  return out;
}

export const maxPoolGradConfig: tf.KernelConfig = {
  kernelName: 'MaxPoolGrad',
  backendName: 'wasm',
  kernelFunc: maxPoolGrad as unknown as tf.KernelFunc,
};
