/**
 * MaxPoolGrad for the wasm backend. The stock kernel is slow and wrong when a window holds only
 * negative values (it starts its running maximum at 0). This one routes each output gradient to the
 * first maximum of its window in row-major order, like the cpu backend, so the two agree exactly;
 * padding is never a maximum and a window of NaNs passes no gradient.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { heapF32 } from './wasm-heap.ts';

interface MaxPoolGradAttrs {
  filterSize: [number, number] | number;
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

function maxPoolGrad(args: { inputs: { dy: tf.TensorInfo; input: tf.TensorInfo; output: tf.TensorInfo }; backend: BackendWasm; attrs: MaxPoolGradAttrs }): tf.TensorInfo {
  const { inputs, backend, attrs } = args;
  const { dy, input } = inputs;
  const info = tf.backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    attrs.filterSize,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
  const { batchSize, inHeight, inWidth, inChannels: C, outHeight, outWidth } = info;
  const { strideHeight, strideWidth, effectiveFilterHeight, effectiveFilterWidth, dilationHeight, dilationWidth } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const out = backend.makeOutput([...input.shape], 'float32');
  const dx = heapF32(backend, out);
  const xv = heapF32(backend, input);
  const dyv = heapF32(backend, dy);
  dx.fill(0);
  // Running maximum per channel, so the innermost loop walks channels contiguously.
  const best = new Float32Array(C);
  const where = new Int32Array(C);
  for (let n = 0; n < batchSize; n++) {
    for (let y = 0; y < outHeight; y++) {
      const r0 = y * strideHeight - top;
      const rMin = Math.max(0, r0);
      const rMax = Math.min(inHeight, r0 + effectiveFilterHeight);
      for (let xo = 0; xo < outWidth; xo++) {
        const c0 = xo * strideWidth - left;
        const cMin = Math.max(0, c0);
        const cMax = Math.min(inWidth, c0 + effectiveFilterWidth);
        best.fill(-Infinity);
        where.fill(-1);
        // Start on the dilation grid of the window, as the forward pass does.
        for (let r = rMin + ((((rMin - r0) % dilationHeight) + dilationHeight) % dilationHeight); r < rMax; r += dilationHeight) {
          for (let c = cMin + ((((cMin - c0) % dilationWidth) + dilationWidth) % dilationWidth); c < cMax; c += dilationWidth) {
            const base = ((n * inHeight + r) * inWidth + c) * C;
            for (let ch = 0; ch < C; ch++) {
              const v = xv[base + ch];
              if (v > best[ch]) {
                best[ch] = v;
                where[ch] = base + ch;
              }
            }
          }
        }
        const dyBase = ((n * outHeight + y) * outWidth + xo) * C;
        for (let ch = 0; ch < C; ch++) {
          const w = where[ch];
          if (w >= 0) dx[w] += dyv[dyBase + ch];
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
