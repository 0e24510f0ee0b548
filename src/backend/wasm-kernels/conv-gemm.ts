/**
 * A 2-D convolution (NHWC, dilation 1) and its two gradients as matrix products on kdq's SIMD
 * kernels (../simd/gemm.wat), for any channel count, stride and padding. With P = n oh ow output
 * pixels and K = fh fw cin filter taps, the im2col matrix `cols` is [P, K] (row p: the input
 * values output pixel p sees), and the filter is already the [K, cout] matrix W:
 *   forward          y[P, cout]  = act(cols W + bias)
 *   input gradient   dx          = col2im(dy[P, cout] W^T)      (each dcols value added back to its input)
 *   filter gradient  dW[K, cout] = cols^T dy
 * `cols` is never built whole: blocks of rows are written into scratch that stays in cache and
 * multiplied at once, so the memory touched is the tensors themselves plus one block. A 1x1
 * convolution at stride 1 without padding needs no im2col: its `cols` is x itself; and the
 * forward product reads the rows of `cols` straight from x for pixels whose taps are all inside
 * the image (conv_direct).
 */
import type * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { intraOp, MIN_SPLIT_MACS, runShared, runSplit, splitPoint, type IntraOpPool, type KernelCall, type SharedUnit } from '../intra-op/index.ts';
import { heapOffset, packedColumns, type SimdKernels } from '../simd/index.ts';
import { release, sizeOf } from './wasm-heap.ts';
import { conv2dWinograd, winogradApplies } from './winograd.ts';
import type { ConvGeometry } from './conv-geometry.ts';

/** Whether these kernels compute `info` (they take NHWC at dilation 1, like every kdq layer). */
export function gemmConvSupported(info: tf.backend_util.Conv2DInfo): boolean {
  return info.dataFormat === 'channelsLast' && info.dilationHeight === 1 && info.dilationWidth === 1;
}

/** How the products are cut into blocks of im2col rows (see blockRows and filterGradRows). */
export interface ConvBlocks {
  /** Bytes of im2col rows per block of the forward and input-gradient products: about L2-sized. */
  bytes: number;
  /** Bytes of im2col rows per block of the filter gradient, unless that is fewer than `filterMinRows` rows. */
  filterBytes: number;
  filterMinRows: number;
  /** Bytes of dy rows per block where the filter gradient reads taps in place (filter_grad_direct), unless fewer than `filterMinRows` rows. */
  directFilterBytes: number;
}

const DEFAULT_BLOCKS: ConvBlocks = { bytes: 96 * 1024, filterBytes: 8 * 1024, filterMinRows: 64, directFilterBytes: 16 * 1024 };
let blocks: ConvBlocks = DEFAULT_BLOCKS;

/**
 * Changes the block sizes (tests use tiny blocks to cover block edges with small shapes); returns
 * the previous ones; no argument restores the defaults. The filter gradient sums block by block,
 * so its rounding depends on these, and on the shapes only, never on memory state.
 */
export function setConvBlocks(b: Partial<ConvBlocks> = DEFAULT_BLOCKS): ConvBlocks {
  const previous = blocks;
  blocks = { ...DEFAULT_BLOCKS, ...b };
  return previous;
}

const mult4 = (n: number) => Math.max(4, n & ~3);

/** Rows per block of the forward and input-gradient products: the block stays in the L2 cache next to one packed filter panel. */
function blockRows(k: number, rows: number): number {
  return Math.min(mult4(Math.floor(blocks.bytes / (4 * k))), rows);
}

/**
 * Rows per block of the filter gradient, whose tiles each stream every row of the block: small
 * enough for its im2col rows and dy rows to stay in L1, but at least 64 rows, so that adding each
 * block's product into dW (K x cout floats read and written) stays cheap. Minimum of 200
 * interleaved calls at batch 32, dW in ms, this rule against 96 KiB blocks: DS-CNN's pointwise
 * 64 -> 64 0.76 / 1.23, the 32x32x3 CNN's first layer 1.75 / 2.46, kd-mnist's teacher 0.80 /
 * 0.89, ResNet-8's 16 -> 16 4.50 / 4.57, 64 -> 64 3.43 (both), the CNN's 32 -> 64 4.7 (both).
 */
function filterGradRows(k: number, rows: number): number {
  return Math.min(mult4(Math.max(blocks.filterMinRows, Math.floor(blocks.filterBytes / (4 * k)))), rows);
}

/** Whether x is its own im2col matrix (1x1 filter, stride 1, no padding). */
function isPointwise(g: ConvGeometry): boolean {
  return g.filterHeight === 1 && g.filterWidth === 1 && g.strideHeight === 1 && g.strideWidth === 1 && g.top === 0 && g.left === 0;
}

type Im2colArgs = [number, number, number, number, number, number, number, number, number, number, number];

function im2colArgs(g: ConvGeometry): Im2colArgs {
  return [g.inHeight, g.inWidth, g.inChannels, g.outHeight, g.outWidth, g.filterHeight, g.filterWidth, g.strideHeight, g.strideWidth, g.top, g.left];
}

/** Floats of slack after an im2col buffer: im2col may write 12 bytes past a row (one 16-byte copy of a shorter run). */
const SLACK = 4;

/** Largest im2col matrix the filter gradient writes whole, so two threads share its writing (bytes). */
const WHOLE_COLS_BYTES = 4 << 20;

/**
 * y = act(conv(x, filter) + bias) into a new [n, oh, ow, cout] tensor; `bias` may be null.
 * The accumulators start at the bias, and relu is f32x4.max (a NaN stays a NaN).
 */
export function conv2dForward(
  backend: BackendWasm,
  simd: SimdKernels,
  x: tf.TensorInfo,
  filter: tf.TensorInfo,
  bias: tf.TensorInfo | null,
  g: ConvGeometry,
  relu: boolean,
): tf.TensorInfo {
  if (winogradApplies(g)) return conv2dWinograd(backend, simd, x, filter, bias, g, relu);
  const K = g.filterHeight * g.filterWidth * g.inChannels;
  const N = g.outChannels;
  const P = g.batch * g.outHeight * g.outWidth;
  const y = backend.makeOutput([g.batch, g.outHeight, g.outWidth, N], 'float32');
  if (P === 0) return y;
  // conv_direct reads x in place even where a filter row reads a few floats (a first layer's
  // fw cin = 3): minimum of 300 calls at batch 32 (bias + relu), ms, blocked im2col against
  // conv_direct: 28x28x1 -> 32 3x3 0.92 / 0.66, -> 16 0.67 / 0.38, 32x32x3 -> 32 2.19 / 1.50,
  // 49x10x1 -> 64 10x4/2 'same' 1.10 / 1.01, 28x28x1 -> 8 5x5 0.82 / 0.31, 28x28x2 -> 16 3x3
  // 'same' 1.05 / 0.84.
  const pointwise = isPointwise(g);
  const rows = blockRows(K, P);
  // With a second thread, the threads share out the blocks, each with scratch of its own.
  const nBlocks = Math.ceil(P / rows);
  const pool = nBlocks >= 2 && P * K * N >= MIN_SPLIT_MACS ? intraOp(backend) : null;
  const threadScratch = pointwise ? 0 : rows * K + SLACK + 5 * Math.ceil(rows / 4);
  const { scratch, bp, biasP, buf } = packFilter(backend, simd, filter, bias, K, N, threadScratch * (pool !== null ? 2 : 1));
  const flags = (bias !== null ? 1 : 0) | (relu ? 2 : 0);
  const at = (t: tf.TensorInfo) => heapOffset(backend, t);
  const xAt = at(x);
  const xEnd = xAt + 4 * sizeOf(x.shape);
  const yAt = at(y);
  const geometry = im2colArgs(g);
  // block b of output pixels, with scratch at buf
  const blockCall = (b: number, buf: number): KernelCall => {
    const p0 = b * rows;
    const m = Math.min(rows, P - p0);
    if (pointwise) return ['gemm', xAt + 4 * p0 * K, 4 * K, bp, biasP, yAt + 4 * p0 * N, 4 * N, m, K, N, flags];
    const tbl = buf + 4 * (rows * K + SLACK);
    // im2col's geometry with the output channels after the output size
    return ['conv_direct', xAt, xEnd, bp, biasP, yAt, 0, buf, tbl, flags, p0, m, ...geometry.slice(0, 5), N, ...geometry.slice(5)];
  };
  runBlocks(pool, simd, nBlocks, buf, threadScratch, blockCall);
  release(backend, scratch);
  return y;
}

/**
 * Blocks [0, nBlocks) of a product, independent of each other: each thread takes the next one
 * left, each with scratch of its own (`threadScratch` floats at `buf`, then the helper's after
 * it). Returns the sum of what the calls returned.
 */
function runBlocks(
  pool: IntraOpPool | null,
  simd: SimdKernels,
  nBlocks: number,
  buf: number,
  threadScratch: number,
  blockCall: (b: number, buf: number) => KernelCall,
): number {
  const units: SharedUnit[] = [];
  for (let b = 0; b < nBlocks; b++) {
    const mine = blockCall(b, buf);
    units.push([mine, pool === null ? mine : blockCall(b, buf + 4 * threadScratch)]);
  }
  return runShared(pool, simd, units);
}

/**
 * Scratch holding the filter packed into 8-column panels (pack_b), then the bias padded to whole
 * panels, then `extraFloats` for the caller (`buf`).
 */
function packFilter(
  backend: BackendWasm,
  simd: SimdKernels,
  filter: tf.TensorInfo,
  bias: tf.TensorInfo | null,
  K: number,
  N: number,
  extraFloats: number,
): { scratch: tf.TensorInfo; bp: number; biasP: number; buf: number } {
  const scratch = backend.makeOutput([packedColumns(N) * (K + 1) + extraFloats], 'float32');
  const bp = heapOffset(backend, scratch);
  const biasP = bp + 4 * packedColumns(N) * K;
  simd.pack_b(heapOffset(backend, filter), 4 * N, 0, bp, K, N);
  if (bias !== null) simd.pack_b(heapOffset(backend, bias), 0, 0, biasP, 1, N);
  return { scratch, bp, biasP, buf: biasP + 4 * packedColumns(N) };
}

/** Whether conv2dPoolForward takes `g`: conv_direct's convolutions (not Winograd's, not pointwise), channels in fours, at least one window. */
export function convPoolApplies(g: ConvGeometry): boolean {
  return !winogradApplies(g) && !isPointwise(g) && g.outChannels % 4 === 0 && g.outHeight >= 2 && g.outWidth >= 2 && g.batch > 0;
}

/**
 * maxPool(relu(conv(x, filter) + bias), 2x2, stride 2, valid) into a new [n, oh / 2, ow / 2, cout]
 * tensor `p`, and max_pool_2x2_arg's routing bytes into `arg` (one per pooled value), without
 * writing the convolution's output: conv_direct with flag 8, blocks of pool windows shared out between
 * the threads like conv2dForward's blocks of pixels. The values are the ones conv2dForward then
 * max_pool_2x2_arg give, bit for bit. `misses` counts NaN maxima: then `arg` is unusable and the
 * caller must take the separate kernels. Without `routing` (inference), `arg` is empty and only
 * the maxima are taken, as max_pool_2x2 takes them (NaN included). Only where convPoolApplies.
 */
export function conv2dPoolForward(
  backend: BackendWasm,
  simd: SimdKernels,
  x: tf.TensorInfo,
  filter: tf.TensorInfo,
  bias: tf.TensorInfo | null,
  g: ConvGeometry,
  routing: boolean,
): { p: tf.TensorInfo; arg: tf.TensorInfo; misses: number } {
  const K = g.filterHeight * g.filterWidth * g.inChannels;
  const N = g.outChannels;
  const windows = g.batch * (g.outHeight >> 1) * (g.outWidth >> 1);
  const p = backend.makeOutput([g.batch, g.outHeight >> 1, g.outWidth >> 1, N], 'float32');
  const arg = backend.makeOutput([routing ? (windows * N) / 4 : 0], 'int32');
  // a block of windows is four times as many pixels as conv2dForward's block of rows
  const perBlock = Math.max(1, blockRows(K, 4 * windows) >> 2);
  const nBlocks = Math.ceil(windows / perBlock);
  const pool = nBlocks >= 2 && 4 * windows * K * N >= MIN_SPLIT_MACS ? intraOp(backend) : null;
  const threadScratch = 4 * perBlock * K + SLACK + 5 * perBlock;
  const { scratch, bp, biasP, buf } = packFilter(backend, simd, filter, bias, K, N, threadScratch * (pool !== null ? 2 : 1));
  const at = (t: tf.TensorInfo) => heapOffset(backend, t);
  const xAt = at(x);
  const xEnd = xAt + 4 * sizeOf(x.shape);
  const [pAt, argAt] = [at(p), at(arg)];
  const geometry = im2colArgs(g);
  // 8: conv_direct pools; 4: without routing bytes
  const flags = (bias !== null ? 1 : 0) | 2 | (routing ? 0 : 4) | 8;
  const blockCall = (b: number, tb: number): KernelCall => {
    const q0 = b * perBlock;
    const m = Math.min(perBlock, windows - q0);
    const tbl = tb + 4 * (4 * perBlock * K + SLACK);
    return ['conv_direct', xAt, xEnd, bp, biasP, pAt, argAt, tb, tbl, flags, q0, m, ...geometry.slice(0, 5), N, ...geometry.slice(5)];
  };
  const misses = runBlocks(pool, simd, nBlocks, buf, threadScratch, blockCall);
  release(backend, scratch);
  return { p, arg, misses };
}

/**
 * dx = the gradient of the convolution's input, into a new tensor of `inputShape`. At stride 1
 * it is itself a convolution, of dy with the filter flipped in space and transposed in channels
 * (each tap's [cin, cout] block), padded by the filter size less the forward padding: a product
 * over K = fh fw cout, used where it measured faster (inputGradAsConv). Otherwise it is
 * dcols = dy W^T, a product over cout, scattered back by col2im.
 */
export function conv2dInputGrad(
  backend: BackendWasm,
  simd: SimdKernels,
  dy: tf.TensorInfo,
  filter: tf.TensorInfo,
  g: ConvGeometry,
  inputShape: readonly number[],
): tf.TensorInfo {
  if (inputGradAsConv(g)) {
    const flipped = backend.makeOutput([g.filterHeight, g.filterWidth, g.outChannels, g.inChannels], 'float32');
    simd.flip_filter(heapOffset(backend, filter), heapOffset(backend, flipped), g.filterHeight, g.filterWidth, g.inChannels, g.outChannels);
    const dx = conv2dForward(backend, simd, dy, flipped, null, transposedGeometry(g), false);
    release(backend, flipped);
    return { dataId: dx.dataId, shape: [...inputShape], dtype: 'float32' };
  }
  const K = g.filterHeight * g.filterWidth * g.inChannels;
  const Cout = g.outChannels;
  const P = g.batch * g.outHeight * g.outWidth;
  const dx = backend.makeOutput([...inputShape], 'float32');
  const at = (t: tf.TensorInfo) => heapOffset(backend, t);
  const dxAt = at(dx);
  const pointwise = isPointwise(g);
  if (!pointwise) backend.typedArrayFromHeap(dx).fill(0);
  if (P === 0) return dx;
  const rows = blockRows(K, P);
  // Images are independent (col2im adds each one's dcols into its own dx only): a second thread
  // takes the second half of the batch, with a dcols block of its own.
  const pool = intraOp(backend);
  const pMid = pool !== null && g.batch >= 2 && P * K * Cout >= MIN_SPLIT_MACS ? Math.floor(g.batch / 2) * g.outHeight * g.outWidth : 0;
  const blockFloats = pointwise ? 0 : rows * K;
  // W^T packed (B[cout, K] is the transpose of the filter's [K, cout] rows), then each thread's dcols block
  const scratch = backend.makeOutput([packedColumns(K) * Cout + blockFloats * (pMid > 0 ? 2 : 1)], 'float32');
  const bp = heapOffset(backend, scratch);
  simd.pack_b(at(filter), 0, 1, bp, Cout, K);
  const dyAt = at(dy);
  const dxEnd = dxAt + 4 * sizeOf(inputShape);
  const geometry = im2colArgs(g);
  const blockCalls = (from: number, to: number, buf: number): KernelCall[] => {
    const calls: KernelCall[] = [];
    for (let p0 = from; p0 < to; p0 += rows) {
      const m = Math.min(rows, to - p0);
      if (pointwise) {
        calls.push(['gemm', dyAt + 4 * p0 * Cout, 4 * Cout, bp, 0, dxAt + 4 * p0 * K, 4 * K, m, Cout, K, 0]);
      } else {
        calls.push(['gemm', dyAt + 4 * p0 * Cout, 4 * Cout, bp, 0, buf, 4 * K, m, Cout, K, 0], ['im2col', dxAt, dxEnd, buf, 4 * K, p0, m, 1, ...geometry]);
      }
    }
    return calls;
  };
  const buf = bp + 4 * packedColumns(K) * Cout;
  runSplit(pool, simd, blockCalls(0, pMid > 0 ? pMid : P, buf), pMid > 0 ? blockCalls(pMid, P, buf + 4 * blockFloats) : []);
  release(backend, scratch);
  return dx;
}

/**
 * Whether to compute the input gradient as a convolution of dy (stride 1, not pointwise). Its
 * product is over fh fw cout with cin columns, the other's over cout with fh fw cin columns: the
 * same work, but the convolution reads dy in place except near its border (conv_direct), while
 * the other writes fh fw cin values per pixel and adds them back. Minimum of 200 interleaved calls
 * at batch 32, this convolution against dy W^T + col2im, ms: 16 -> 16 channels on 32x32 'same'
 * 4.01 / 5.52, 32 -> 32 on 16x16 3.61 / 4.28, 64 -> 64 on 8x8 3.43 / 3.86, 16 -> 32 on 16x16
 * 1.94 / 2.22, 32 -> 16 1.86 / 2.57; but 32 -> 64 on 15x15 'valid' (a quarter of dx's pixels
 * read the padding of dy) 6.05 / 5.17. Hence: cout <= cin, or cout <= 2 cin with at most a
 * quarter of dx's pixels near the border. And wherever the convolution of dy is a Winograd one:
 * minimum of 40 calls at batch 32, one thread / two, dy W^T + col2im against Winograd, ms:
 * 32 -> 64 on 15x15 'valid' 5.48 / 5.31, 4.83 / 3.35; 16 -> 32 on 16x16 'same' 2.34 / 1.77,
 * 1.22 / 0.92; 16 -> 64 on 8x8 1.06 / 0.96, 0.83 / 0.54.
 */
function inputGradAsConv(g: ConvGeometry): boolean {
  if (g.strideHeight !== 1 || g.strideWidth !== 1 || isPointwise(g) || g.top >= g.filterHeight || g.left >= g.filterWidth) return false;
  if (g.outChannels <= g.inChannels || winogradApplies(transposedGeometry(g))) return true;
  const interior = (Math.max(0, g.outHeight - g.filterHeight + 1) * Math.max(0, g.outWidth - g.filterWidth + 1)) / (g.inHeight * g.inWidth);
  return g.outChannels <= 2 * g.inChannels && interior >= 0.75;
}

/** The geometry of the convolution of dy that gives a stride-1 convolution's input gradient. */
function transposedGeometry(g: ConvGeometry): ConvGeometry {
  return {
    batch: g.batch,
    inHeight: g.outHeight,
    inWidth: g.outWidth,
    inChannels: g.outChannels,
    outHeight: g.inHeight,
    outWidth: g.inWidth,
    outChannels: g.inChannels,
    filterHeight: g.filterHeight,
    filterWidth: g.filterWidth,
    strideHeight: 1,
    strideWidth: 1,
    top: g.filterHeight - 1 - g.top,
    left: g.filterWidth - 1 - g.left,
  };
}

/** Whether conv2dFilterGrad takes this many output channels (its tiles are 4 columns wide at least). */
export function filterGradSupported(outChannels: number): boolean {
  return outChannels % 4 === 0;
}

let directFilterGrad = true;

/**
 * Turns the filter gradient's reading of taps in place (filter_grad_direct) on or off; returns the
 * previous setting. Both give the same bits; tests compare them.
 */
export function setDirectFilterGrad(on: boolean): boolean {
  const previous = directFilterGrad;
  directFilterGrad = on;
  return previous;
}

/**
 * Whether the filter gradient reads each pixel's taps from x (filter_grad_direct) instead of
 * writing im2col rows for gemm_tn: where fewer than 4 input channels make each im2col row a few
 * short copies, and at stride 1 up to 16 channels, where the two threads then share the taps
 * without either writing im2col rows the other also writes. Minimum of 60 calls at batch 32, ms,
 * im2col + gemm_tn against in place, one thread / two: 28x28x1 -> 32 3x3 0.83 / 0.48 (one
 * thread), 32x32x3 -> 32 1.90 / 1.39, 1.92 / 0.91; ResNet-8's first layer 1.52 / 0.94, 0.95 /
 * 0.68; its 16 -> 16 on 32x32 4.60 / 4.22, 3.37 / 2.43. Not with more channels or at stride 2:
 * 16x16x32 -> 32 3.68 / 4.49, 2.27 / 2.38; 8x8x64 -> 64 3.53 / 5.35, 2.38 / 3.09; 15x15x32 -> 64
 * 4.68 / 6.13; 32x32x16 -> 32 at stride 2 1.99 / 2.87, 1.26 / 1.61 (the loads of every tile
 * stride across whole pixels).
 */
function readsTapsInPlace(g: ConvGeometry): boolean {
  if (!directFilterGrad || isPointwise(g)) return false;
  return g.inChannels < 4 || (g.inChannels <= 16 && g.strideHeight === 1 && g.strideWidth === 1);
}

/** Rows per block of filter_grad_direct: dy's rows of the block stay in L1 (16 KiB), at least 64. */
function directFilterRows(n: number, rows: number): number {
  return Math.min(mult4(Math.max(blocks.filterMinRows, Math.floor(blocks.directFilterBytes / (4 * n)))), rows);
}

/**
 * dW = the gradient of the convolution's filter, into a new [fh, fw, cin, cout] tensor; cout a
 * multiple of 4. The im2col rows are padded to K4 = K rounded up to 4 columns, so that every row
 * of dW is in a 4-row tile of gemm_tn (a lone row streams all of the block for one product per
 * load); the padding columns hold whatever im2col leaves there, and the product's rows they give
 * are dropped. Each value of dW is one chain of multiply-adds over the pixels in order, whichever
 * blocks, thread or path computes it.
 */
export function conv2dFilterGrad(backend: BackendWasm, simd: SimdKernels, x: tf.TensorInfo, dy: tf.TensorInfo, g: ConvGeometry): tf.TensorInfo {
  const K = g.filterHeight * g.filterWidth * g.inChannels;
  const N = g.outChannels;
  const P = g.batch * g.outHeight * g.outWidth;
  const dw = backend.makeOutput([g.filterHeight, g.filterWidth, g.inChannels, N], 'float32');
  if (P === 0) {
    backend.typedArrayFromHeap(dw).fill(0);
    return dw;
  }
  if (readsTapsInPlace(g)) return filterGradInPlace(backend, simd, x, dy, g, dw);
  const pointwise = isPointwise(g);
  const K4 = pointwise ? K : Math.ceil(K / 4) * 4;
  const rows = filterGradRows(K4, P);
  // With a second thread, each takes half of dW's columns over every block (the sums over pixels
  // stay in one order). Where the whole im2col matrix is small, the threads first write it
  // together, half of the blocks each (the halves 16 bytes apart: im2col may write 12 bytes past
  // a row); otherwise each writes every block into scratch of its own.
  const pool = intraOp(backend);
  const mid = pool !== null && P * K * N >= MIN_SPLIT_MACS ? splitPoint(N, 8) : 0;
  const nBlocks = Math.ceil(P / rows);
  const whole = mid > 0 && !pointwise && nBlocks >= 2 && 4 * P * K4 <= WHOLE_COLS_BYTES;
  const pMid = Math.ceil(nBlocks / 2) * rows;
  const blockFloats = rows * K4 + SLACK;
  // The helper sums its columns into a product of its own: were they in the main thread's rows,
  // both threads would write every row of dW after every block, and with 16 channels the two
  // halves of a row share a cache line, which then moves between the cores (ResNet-8's 16 -> 16
  // layer measured no faster on two threads than on one).
  const helperCols = mid > 0 ? N - mid : 0;
  // the padded product, then the im2col matrix or each thread's im2col block, then the helper's product a cache line on
  const productFloats = pointwise ? 0 : K4 * N;
  const colsFloats = pointwise ? 0 : whole ? P * K4 + 2 * SLACK : blockFloats * (mid > 0 ? 2 : 1);
  const helperAt = productFloats + colsFloats + 16;
  const scratch = pointwise && helperCols === 0 ? null : backend.makeOutput([helperAt + K4 * helperCols], 'float32');
  const at = (t: tf.TensorInfo) => heapOffset(backend, t);
  const xAt = at(x);
  const xEnd = xAt + 4 * sizeOf(x.shape);
  const dyAt = at(dy);
  const out = pointwise ? at(dw) : at(scratch!);
  const cols = out + 4 * K4 * N;
  const geometry = im2colArgs(g);
  const rowsAt = (p0: number) => (p0 < pMid ? cols + 4 * p0 * K4 : cols + 4 * ((p0 - pMid) * K4 + SLACK + pMid * K4));
  if (whole) {
    const im2colCalls = (from: number, to: number): KernelCall[] => {
      const calls: KernelCall[] = [];
      for (let p0 = from; p0 < to; p0 += rows) calls.push(['im2col', xAt, xEnd, rowsAt(p0), 4 * K4, p0, Math.min(rows, P - p0), 0, ...geometry]);
      return calls;
    };
    runSplit(pool, simd, im2colCalls(0, pMid), im2colCalls(pMid, P));
  }
  // columns [n0, n1) of the product into c (rows ldc bytes apart)
  const columnCalls = (n0: number, n1: number, buf: number, c: number, ldc: number): KernelCall[] => {
    const calls: KernelCall[] = [];
    for (let p0 = 0; p0 < P && n1 > n0; p0 += rows) {
      const m = Math.min(rows, P - p0);
      let a = xAt + 4 * p0 * K;
      if (whole) a = rowsAt(p0);
      else if (!pointwise) {
        a = buf;
        calls.push(['im2col', xAt, xEnd, buf, 4 * K4, p0, m, 0, ...geometry]);
      }
      calls.push(['gemm_tn', a, 4 * K4, dyAt + 4 * (p0 * N + n0), 4 * N, c, ldc, m, K4, n1 - n0, p0 === 0 ? 0 : 1]);
    }
    return calls;
  };
  const mainCols = N - helperCols;
  const helperOut = scratch === null ? 0 : at(scratch) + 4 * helperAt;
  runSplit(pool, simd, columnCalls(0, mainCols, cols, out, 4 * N), columnCalls(mainCols, N, cols + 4 * blockFloats, helperOut, 4 * helperCols));
  if (scratch !== null) {
    gatherProducts(backend, dw, scratch, pointwise ? null : 0, helperAt, K, N, mainCols);
    release(backend, scratch);
  }
  return dw;
}

/**
 * Copies the products of the two threads into dW [K, N]: the main thread's columns [0, mainCols)
 * from rows N floats apart at `mainAt` in scratch (null: they are in dW already), the helper's
 * from rows N - mainCols floats apart at `helperAt`.
 */
function gatherProducts(
  backend: BackendWasm,
  dw: tf.TensorInfo,
  scratch: tf.TensorInfo,
  mainAt: number | null,
  helperAt: number,
  K: number,
  N: number,
  mainCols: number,
): void {
  const d = backend.typedArrayFromHeap(dw) as Float32Array;
  const sc = backend.typedArrayFromHeap(scratch) as Float32Array;
  const helperCols = N - mainCols;
  if (mainAt !== null && helperCols === 0) {
    d.set(sc.subarray(mainAt, mainAt + K * N));
    return;
  }
  for (let k = 0; k < K; k++) {
    if (mainAt !== null) d.set(sc.subarray(mainAt + k * N, mainAt + k * N + mainCols), k * N);
    d.set(sc.subarray(helperAt + k * helperCols, helperAt + (k + 1) * helperCols), k * N + mainCols);
  }
}

/**
 * conv2dFilterGrad by filter_grad_direct: each pixel's taps read from x, or from a copy of x with
 * the convolution's zero padding around every image. With a second thread, each takes half of
 * dW's rows (filter taps) over every pixel and column, into the one product, where the rows make
 * at least 4 tiles of 4 (neither thread repeats the other's reading); with fewer (3x3 filters over
 * one channel: 3 tiles), half of dW's columns each, the helper's into a product of its own. Either
 * way the sums over pixels keep their order.
 */
function filterGradInPlace(backend: BackendWasm, simd: SimdKernels, x: tf.TensorInfo, dy: tf.TensorInfo, g: ConvGeometry, dw: tf.TensorInfo): tf.TensorInfo {
  const K = g.filterHeight * g.filterWidth * g.inChannels;
  const K4 = Math.ceil(K / 4) * 4;
  const N = g.outChannels;
  const P = g.batch * g.outHeight * g.outWidth;
  // the rows and columns of input the taps span, padding included
  const spanH = (g.outHeight - 1) * g.strideHeight + g.filterHeight;
  const spanW = (g.outWidth - 1) * g.strideWidth + g.filterWidth;
  const padded = g.top > 0 || g.left > 0 || spanH > g.inHeight || spanW > g.inWidth;
  const hp = padded ? spanH : g.inHeight;
  const wp = padded ? spanW : g.inWidth;
  const pool = P * K * N >= MIN_SPLIT_MACS ? intraOp(backend) : null;
  const byTaps = K4 >= 16;
  const kMid = pool !== null && byTaps ? splitPoint(K4, 4) : K4;
  const nMid = pool !== null && !byTaps && splitPoint(N, 8) > 0 ? splitPoint(N, 8) : N;
  // the product (rows N floats apart), the helper's product of columns [nMid, N) a cache line on,
  // then the padded copy of x
  const helperAt = K4 * N + 16;
  const copyAt = helperAt + K4 * (N - nMid) + 16;
  const scratch = backend.makeOutput([copyAt + (padded ? g.batch * hp * wp * g.inChannels : 0)], 'float32');
  const at = (t: tf.TensorInfo) => heapOffset(backend, t);
  const base = at(scratch);
  let xAt = at(x);
  if (padded) {
    padImages(backend.typedArrayFromHeap(x) as Float32Array, (backend.typedArrayFromHeap(scratch) as Float32Array).subarray(copyAt), g, hp, wp);
    xAt = base + 4 * copyAt;
  }
  const dyAt = at(dy);
  const rows = directFilterRows(N, P);
  const geometry = [g.inChannels, g.outHeight, g.outWidth, g.strideHeight, g.strideWidth, g.filterWidth];
  // rows [k0, k1) and columns [n0, n1) of the product, into c (rows ldc bytes apart)
  const calls = (k0: number, k1: number, n0: number, n1: number, c: number, ldc: number): KernelCall[] => {
    const list: KernelCall[] = [];
    for (let p0 = 0; p0 < P && k1 > k0 && n1 > n0; p0 += rows) {
      const m = Math.min(rows, P - p0);
      list.push(['filter_grad_direct', xAt, hp, wp, ...geometry, K, k0, k1, p0, m, dyAt + 4 * (p0 * N + n0), 4 * N, c, ldc, n1 - n0, p0 === 0 ? 0 : 1]);
    }
    return list;
  };
  const helperOut = base + 4 * helperAt;
  const main = calls(0, kMid, 0, nMid, base, 4 * N);
  const helper = kMid < K4 ? calls(kMid, K4, 0, N, base, 4 * N) : calls(0, K4, nMid, N, helperOut, 4 * (N - nMid));
  runSplit(pool, simd, main, helper);
  gatherProducts(backend, dw, scratch, 0, helperAt, K, N, nMid);
  release(backend, scratch);
  return dw;
}

/** dst [n, hp, wp, c] = x with the convolution's zero padding: `top` rows and `left` columns before each image, the rest after. */
function padImages(x: Float32Array, dst: Float32Array, g: ConvGeometry, hp: number, wp: number): void {
  const c = g.inChannels;
  dst.fill(0, 0, g.batch * hp * wp * c);
  const cols = Math.min(g.inWidth, wp - g.left);
  for (let n = 0; n < g.batch; n++) {
    for (let iy = 0; iy < g.inHeight && iy + g.top < hp; iy++) {
      const src = (n * g.inHeight + iy) * g.inWidth * c;
      dst.set(x.subarray(src, src + cols * c), ((n * hp + iy + g.top) * wp + g.left) * c);
    }
  }
}
