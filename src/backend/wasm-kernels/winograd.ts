/**
 * 3x3 convolutions at stride 1 by Winograd's minimal filtering F(2x2, 3x3) (Lavin & Gray 2016):
 * each tile of 2x2 output pixels takes 16 multiplies per input and output channel pair instead of
 * 36, at the price of additions that transform the input tile and the output. With
 *   G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
 * the filter becomes U = G g G^T (4x4 per channel pair, `wino_filter`), and `winograd` (both in
 * ../simd/gemm.wat) does the rest: the input transform of a block of tiles, 16 products with U
 * (kdq's gemm), the output transform with bias and relu.
 *
 * It rounds differently from the direct product (each output is no longer one chain of
 * multiply-adds over the taps), so it is part of the learning stages' version. It serves the
 * forward pass and the stride-1 input gradient (a convolution of dy, conv-gemm.ts) of layers whose
 * channel counts are multiples of 4 and at least 8 in: ResNet-8's 3x3 layers but its first, the
 * 32x32x3 CNN's second layer. kd-mnist's networks (one input channel) never take it.
 */
import type * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { intraOp, MIN_SPLIT_MACS, shareRange, type KernelCall } from '../intra-op/index.ts';
import { heapOffset, packedColumns, type SimdKernels } from '../simd/index.ts';
import type { ConvGeometry } from './conv-geometry.ts';
import { release } from './wasm-heap.ts';

let enabled = true;

/** Turns Winograd convolutions on or off (tests compare both ways); returns the previous setting. */
export function setWinograd(on: boolean): boolean {
  const previous = enabled;
  enabled = on;
  return previous;
}

/** Whether conv2dWinograd computes this convolution. */
export function winogradApplies(g: ConvGeometry): boolean {
  return (
    enabled &&
    g.filterHeight === 3 &&
    g.filterWidth === 3 &&
    g.strideHeight === 1 &&
    g.strideWidth === 1 &&
    g.inChannels >= 8 &&
    g.inChannels % 4 === 0 &&
    g.outChannels % 4 === 0 &&
    g.top <= 2 &&
    g.left <= 2
  );
}

/** Tiles per block: the block's transformed input and products (16 (cin + cout) floats a tile) stay in L2. */
function blockTiles(g: ConvGeometry): number {
  return g.inChannels + g.outChannels <= 64 ? 32 : 16;
}

/**
 * y = act(conv(x, filter) + bias) by F(2x2, 3x3) into a new [n, oh, ow, cout] tensor; `bias` may
 * be null. Blocks of tiles are independent: with a second thread, each takes ranges of them
 * (whole blocks), with scratch of its own.
 */
export function conv2dWinograd(
  backend: BackendWasm,
  simd: SimdKernels,
  x: tf.TensorInfo,
  filter: tf.TensorInfo,
  bias: tf.TensorInfo | null,
  g: ConvGeometry,
  relu: boolean,
): tf.TensorInfo {
  const C = g.inChannels;
  const N = g.outChannels;
  const y = backend.makeOutput([g.batch, g.outHeight, g.outWidth, N], 'float32');
  const TH = Math.ceil(g.outHeight / 2);
  const TW = Math.ceil(g.outWidth / 2);
  const T = g.batch * TH * TW;
  if (T === 0) return y;
  const m = blockTiles(g);
  const P = g.batch * g.outHeight * g.outWidth;
  const pool = T > m && P * 9 * C * N >= MIN_SPLIT_MACS ? intraOp(backend) : null;
  // U's 16 panels, then each thread's V, M and edge scratch
  const packed = 16 * packedColumns(N) * C;
  const threadFloats = 16 * m * (C + N) + 64;
  const scratch = backend.makeOutput([packed + threadFloats * (pool !== null ? 2 : 1)], 'float32');
  const base = heapOffset(backend, scratch);
  simd.wino_filter(heapOffset(backend, filter), base, C, N);
  const flags = (bias !== null ? 1 : 0) | (relu ? 2 : 0);
  const xAt = heapOffset(backend, x);
  const yAt = heapOffset(backend, y);
  const biasAt = bias !== null ? heapOffset(backend, bias) : 0;
  const geometry = [g.inHeight, g.inWidth, C, N, g.outHeight, g.outWidth, TH, TW, g.top, g.left];
  const part = (from: number, to: number, helper: boolean): KernelCall => {
    const buf = base + 4 * (packed + (helper ? threadFloats : 0));
    return ['winograd', xAt, buf, base, biasAt, yAt, flags, from, to, m, ...geometry];
  };
  shareRange(pool, simd, T, m, part);
  release(backend, scratch);
  return y;
}
