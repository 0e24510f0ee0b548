/**
 * DepthwiseConv2dNativeBackpropInput for the wasm backend, which lacks it (needed as soon as a
 * depthwiseConv2d layer is not the first layer). Scatters each output gradient back onto the input
 * pixels its filter taps read (SIMD over four channels for a multiplier of 1, else a direct loop):
 * dx[n, iy, ix, c] += w[kh, kw, c, q] * dy[n, y, x, c*m + q] with iy = y*sh - top + kh*dh, ix likewise.
 */
import type * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { heapOffset, simdKernels } from '../simd/index.ts';
import { heapF32 } from './wasm-heap.ts';
import { depthwiseGeometry, runDepthwise, simdDepthwiseSupported, type DepthwiseGradAttrs } from './depthwise-geometry.ts';

interface DepthwiseBackpropInputAttrs extends DepthwiseGradAttrs {
  inputShape: [number, number, number, number];
}

function depthwiseBackpropInput(args: {
  inputs: { dy: tf.TensorInfo; filter: tf.TensorInfo };
  backend: BackendWasm;
  attrs: DepthwiseBackpropInputAttrs;
}): tf.TensorInfo {
  const { inputs, backend, attrs } = args;
  const { dy, filter } = inputs;
  const g = depthwiseGeometry(attrs.inputShape, filter.shape as [number, number, number, number], attrs);
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels, filterHeight, filterWidth } = g;
  const { strideHeight, strideWidth, dilationHeight, dilationWidth, mult, top, left } = g;
  const out = backend.makeOutput([...attrs.inputShape], 'float32');
  const simd = simdKernels(backend);
  if (simd !== null && simdDepthwiseSupported(g)) {
    heapF32(backend, out).fill(0);
    runDepthwise(backend, simd, g, { input: heapOffset(backend, out), f: heapOffset(backend, filter), out: heapOffset(backend, dy), mode: 1 });
    return out;
  }
  const dx = heapF32(backend, out);
  const wv = heapF32(backend, filter);
  const dyv = heapF32(backend, dy);
  dx.fill(0);
  for (let n = 0; n < batchSize; n++) {
    for (let y = 0; y < outHeight; y++) {
      for (let xo = 0; xo < outWidth; xo++) {
        const dyBase = ((n * outHeight + y) * outWidth + xo) * outChannels;
        for (let kh = 0; kh < filterHeight; kh++) {
          const iy = y * strideHeight - top + kh * dilationHeight;
          if (iy < 0 || iy >= inHeight) continue;
          for (let kw = 0; kw < filterWidth; kw++) {
            const ix = xo * strideWidth - left + kw * dilationWidth;
            if (ix < 0 || ix >= inWidth) continue;
            const xBase = ((n * inHeight + iy) * inWidth + ix) * inChannels;
            const wBase = (kh * filterWidth + kw) * outChannels;
            for (let c = 0; c < inChannels; c++) {
              let acc = 0;
              for (let q = 0; q < mult; q++) {
                const oc = c * mult + q;
                acc += wv[wBase + oc] * dyv[dyBase + oc];
              }
              dx[xBase + c] += acc;
            }
          }
        }
      }
    }
  }
  return out;
}

export const depthwiseConv2dBackpropInputConfig: tf.KernelConfig = {
  kernelName: 'DepthwiseConv2dNativeBackpropInput',
  backendName: 'wasm',
  kernelFunc: depthwiseBackpropInput as unknown as tf.KernelFunc,
};
