/**
 * DepthwiseConv2dNativeBackpropFilter for the wasm backend, which lacks it (depthwiseConv2d layers
 * cannot train without it). Each channel is independent: SIMD over four channels at a time
 * (../simd/spatial.wat) for a channel multiplier of 1, a direct loop over the heap otherwise.
 * dW[kh, kw, c, q] = sum over (n, y, x) of x[n, y*sh - top + kh*dh, x*sw - left + kw*dw, c] * dy[n, y, x, c*m + q].
 */
import type * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { heapOffset, simdKernels } from '../simd/index.ts';
import { heapF32 } from './wasm-heap.ts';
import { depthwiseGeometry, runDepthwise, simdDepthwiseSupported, type DepthwiseGradAttrs } from './depthwise-geometry.ts';

interface DepthwiseBackpropFilterAttrs extends DepthwiseGradAttrs {
  filterShape: [number, number, number, number];
}

function depthwiseBackpropFilter(args: {
  inputs: { x: tf.TensorInfo; dy: tf.TensorInfo };
  backend: BackendWasm;
  attrs: DepthwiseBackpropFilterAttrs;
}): tf.TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x, dy } = inputs;
  const g = depthwiseGeometry(x.shape as [number, number, number, number], attrs.filterShape, attrs);
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels, filterHeight, filterWidth } = g;
  const { strideHeight, strideWidth, dilationHeight, dilationWidth, mult, top, left } = g;
  const out = backend.makeOutput([...attrs.filterShape], 'float32');
  const simd = simdKernels(backend);
  if (simd !== null && simdDepthwiseSupported(g)) {
    heapF32(backend, out).fill(0);
    runDepthwise(backend, simd, g, { input: heapOffset(backend, x), f: heapOffset(backend, out), out: heapOffset(backend, dy), mode: 2 });
    return out;
  }
  const dw = heapF32(backend, out);
  const xv = heapF32(backend, x);
  const dyv = heapF32(backend, dy);
  dw.fill(0);
  for (let kh = 0; kh < filterHeight; kh++) {
    for (let kw = 0; kw < filterWidth; kw++) {
      const wBase = (kh * filterWidth + kw) * outChannels;
      for (let n = 0; n < batchSize; n++) {
        for (let y = 0; y < outHeight; y++) {
          const iy = y * strideHeight - top + kh * dilationHeight;
          if (iy < 0 || iy >= inHeight) continue;
          for (let xo = 0; xo < outWidth; xo++) {
            const ix = xo * strideWidth - left + kw * dilationWidth;
            if (ix < 0 || ix >= inWidth) continue;
            const xBase = ((n * inHeight + iy) * inWidth + ix) * inChannels;
            const dyBase = ((n * outHeight + y) * outWidth + xo) * outChannels;
            for (let c = 0; c < inChannels; c++) {
              const xval = xv[xBase + c];
              for (let q = 0; q < mult; q++) {
                const oc = c * mult + q;
                dw[wBase + oc] += xval * dyv[dyBase + oc];
              }
            }
          }
        }
      }
    }
  }
  return out;
}

export const depthwiseConv2dBackpropFilterConfig: tf.KernelConfig = {
  kernelName: 'DepthwiseConv2dNativeBackpropFilter',
  backendName: 'wasm',
  kernelFunc: depthwiseBackpropFilter as unknown as tf.KernelFunc,
};
