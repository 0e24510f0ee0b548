/**
 * A relu convolution followed by 2x2 max pooling at stride 2 (kd-mnist's and the plain CNN's
 * blocks), as one kernel each way. Apart, the backward pass reads and writes the convolution's
 * whole output four more times than it needs to: MaxPoolGrad reads it to find each window's
 * maximum and writes a gradient of its size, then the convolution's relu gradient reads both and
 * writes a third (KdqReluBiasGrad). Here the forward pass also writes one byte per pooled value
 * saying which input was the maximum (max_pool_2x2_arg), the convolution's output is freed at
 * once (or, for the convolutions conv_direct computes, never written: conv_direct's pooling mode pools
 * each window as it computes it), and the backward pass writes dz and the bias gradient in one pass
 * from the pooled output, those bytes and the pooled gradient (unpool_relu_grad). The values, sums included, are the ones
 * the separate kernels compute, in the same order: the same bits (test/backend/conv-relu-pool.test.ts).
 *
 * A window whose maximum is NaN has no input equal to it; then the convolution's output is kept
 * and the backward pass runs the separate kernels, which route that gradient as the cpu backend does.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { KdqError } from '../../errors.ts';
import type { KernelCall } from '../intra-op/index.ts';
import { heapOffset, simdKernels } from '../simd/index.ts';
import { conv2dPoolForward, convPoolApplies, gemmConvSupported } from './conv-gemm.ts';
import { convGeometry, type ConvGeometry } from './conv-geometry.ts';
import { biasActivationGrad, convGradients, FUSED_CONV2D, type FusedConv2DAttrs } from './fused-layers.ts';
import { isPool2x2, pool2x2Images, poolInfo } from './pool-geometry.ts';
import { release, sizeOf } from './wasm-heap.ts';

export const CONV_RELU_POOL = 'KdqConvReluPool';
export const UNPOOL_RELU_GRAD = 'KdqUnpoolReluGrad';

/** The pooling every KdqConvReluPool does. */
const POOL = { filterSize: 2, strides: 2, pad: 'valid' } as const;

/** A convolution's attributes without the activation: KdqConvReluPool's is always relu. */
export type ConvReluPoolAttrs = Omit<FusedConv2DAttrs, 'activation'>;

/** The kernel's attributes: `routing` false (no gradient being recorded) skips the routing bytes where the block pools in one pass. */
type KernelAttrs = ConvReluPoolAttrs & { routing?: boolean };

type KernelArgs = Parameters<tf.KernelFunc>[0];

/**
 * [pooled output, routing bytes (int32, four per value), the convolution's output or an empty
 * tensor]. Where kdq's SIMD kernels are missing or a maximum is NaN, the bytes are empty and the
 * convolution's output is kept for the separate backward kernels.
 */
function convReluPool(args: KernelArgs): tf.TensorInfo[] {
  const backend = args.backend as unknown as BackendWasm;
  const a = args.attrs as unknown as KernelAttrs;
  const pooled = pooledInOnePass(backend, args.inputs as unknown as ConvInputs, a, a.routing ?? true);
  if (pooled !== null) return pooled;
  const conv = tf.getKernel(FUSED_CONV2D, 'wasm')!;
  const y = conv.kernelFunc({ ...args, attrs: { ...a, activation: 'relu' } as unknown as tf.NamedAttrMap }) as tf.TensorInfo;
  const info = poolInfo(y.shape, POOL);
  const shape = [info.batchSize, info.outHeight, info.outWidth, info.inChannels];
  const simd = simdKernels(backend);
  const empty = () => backend.makeOutput([0], 'int32');
  if (simd === null || !isPool2x2(info)) {
    const p = tf
      .getKernel('MaxPool', 'wasm')!
      .kernelFunc({ inputs: { x: y }, backend: args.backend, attrs: POOL as unknown as tf.NamedAttrMap }) as tf.TensorInfo;
    return [p, empty(), y];
  }
  const p = backend.makeOutput(shape, 'float32');
  const arg = backend.makeOutput([sizeOf(shape) / 4], 'int32');
  const misses = pool2x2Images(backend, simd, info, 'max_pool_2x2_arg', [
    [y, 'in'],
    [p, 'out'],
    [arg, 'arg'],
  ]);
  if (misses > 0) {
    release(backend, arg);
    return [p, empty(), y];
  }
  release(backend, y);
  return [p, arg, backend.makeOutput([0], 'float32')];
}

type ConvInputs = { x: tf.TensorInfo; filter: tf.TensorInfo; bias: tf.TensorInfo };

/**
 * KdqConvReluPool's outputs from conv_direct's pooling mode (flag 8), which pools each window as it computes it and
 * never writes the convolution's output; null where it does not apply (Winograd's or pointwise
 * convolutions, the stock kernels) or a maximum is NaN: then the separate kernels run.
 */
function pooledInOnePass(backend: BackendWasm, inputs: ConvInputs, a: ConvReluPoolAttrs, routing: boolean): tf.TensorInfo[] | null {
  const { x, filter, bias } = inputs;
  const simd = simdKernels(backend);
  if (simd === null || x.dtype !== 'float32' || filter.dtype !== 'float32' || bias.dtype !== 'float32') return null;
  const g = onePassGeometry(x.shape, filter.shape, a);
  if (g === null || bias.shape.length !== 1 || bias.shape[0] !== g.outChannels) return null;
  const { p, arg, misses } = conv2dPoolForward(backend, simd, x, filter, bias, g, routing);
  if (misses === 0) return [p, arg, backend.makeOutput([0], 'float32')];
  release(backend, p);
  release(backend, arg);
  return null;
}

/** The convolution's geometry where conv_direct's pooling mode computes the block (and it is not turned off), else null. */
function onePassGeometry(xShape: readonly number[], filterShape: readonly number[], a: ConvReluPoolAttrs): ConvGeometry | null {
  if (!onePass || xShape.length !== 4 || filterShape.length !== 4) return null;
  const info = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    a.strides,
    1,
    a.pad,
  );
  const g = convGeometry(info);
  return gemmConvSupported(info) && convPoolApplies(g) ? g : null;
}

let onePass = true;

/** Turns conv_direct's pooling mode off (or back on): KdqConvReluPool then writes the convolution's output and pools it apart. For tests and benchmarks. */
export function setConvPoolOnePass(on: boolean): void {
  onePass = on;
}

export const convReluPoolConfig: tf.KernelConfig = {
  kernelName: CONV_RELU_POOL,
  backendName: 'wasm',
  kernelFunc: convReluPool as unknown as tf.KernelFunc,
};

/** [dz, db]: the relu convolution's gradients before its product, from the pool's output gradient. */
function unpoolReluGrad(args: {
  inputs: { dy: tf.TensorInfo; y: tf.TensorInfo; arg: tf.TensorInfo };
  backend: BackendWasm;
  attrs: { convShape: number[] };
}): tf.TensorInfo[] {
  const { inputs, backend, attrs } = args;
  const convShape = attrs.convShape as [number, number, number, number];
  const info = poolInfo(convShape, POOL);
  const simd = simdKernels(backend)!;
  const dz = backend.makeOutput(convShape, 'float32');
  const db = backend.makeOutput([info.inChannels], 'float32');
  // dz: images shared out between the threads; db in one call, in pixel order, from the pooled
  // values (it reads no dz), on whichever thread comes to it first while the other writes dz
  backend.typedArrayFromHeap(db).fill(0);
  const at = (t: tf.TensorInfo) => heapOffset(backend, t);
  const dbCall: KernelCall = [
    'pooled_bias_grad',
    at(inputs.dy),
    at(inputs.y),
    at(inputs.arg),
    at(db),
    info.batchSize,
    info.inChannels,
    info.outHeight,
    info.outWidth,
  ];
  pool2x2Images(
    backend,
    simd,
    info,
    'unpool_relu_grad',
    [
      [inputs.dy, 'out'],
      [inputs.y, 'out'],
      [inputs.arg, 'arg'],
      [dz, 'in'],
    ],
    dbCall,
  );
  return [dz, db];
}

export const unpoolReluGradConfig: tf.KernelConfig = {
  kernelName: UNPOOL_RELU_GRAD,
  backendName: 'wasm',
  kernelFunc: unpoolReluGrad as unknown as tf.KernelFunc,
};

export const convReluPoolGradConfig: tf.GradConfig = {
  kernelName: CONV_RELU_POOL,
  inputsToSave: ['x', 'filter'],
  outputsToSave: [true, true, true],
  gradFunc: (dys, saved, attrs) => {
    const dp = (Array.isArray(dys) ? dys[0] : dys) as tf.Tensor;
    const [x, filter, p, arg, y] = saved as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D, tf.Tensor, tf.Tensor4D];
    const a = attrs as unknown as ConvReluPoolAttrs;
    if (arg.size > 0) {
      const info = tf.backend_util.computeConv2DInfo(x.shape, filter.shape, a.strides, 1, a.pad);
      const convShape = [info.batchSize, info.outHeight, info.outWidth, info.outChannels];
      const [dz, db] = tf.engine().runKernel(UNPOOL_RELU_GRAD, { dy: dp, y: p, arg }, { convShape } as unknown as tf.NamedAttrMap) as unknown as tf.Tensor[];
      return convGradients(x, filter, dz!, () => db!, a);
    }
    if (y.size === 0) {
      throw new KdqError(
        'E_INTERNAL',
        `${CONV_RELU_POOL} ran without routing bytes (no gradient was being recorded) and cannot be differentiated; call convReluPoolOp inside the gradient`,
      );
    }
    // a NaN maximum: the pool's and the fused convolution's own backward kernels, on the kept output
    const dy = tf
      .engine()
      .runKernel('MaxPoolGrad', { dy: dp, input: y, output: p }, { ...POOL, dimRoundingMode: undefined } as unknown as tf.NamedAttrMap) as tf.Tensor;
    const { dz, db } = biasActivationGrad(dy, y, 'relu');
    return convGradients(x, filter, dz, db, a);
  },
};

/**
 * maxPool(relu(conv2d(x, filter) + bias), 2, 2, 'valid'), NHWC, dilation 1, through CONV_RELU_POOL;
 * the routing bytes only while a gradient is being recorded.
 */
export function convReluPoolOp(x: tf.Tensor4D, filter: tf.Tensor4D, bias: tf.Tensor1D, attrs: ConvReluPoolAttrs): tf.Tensor4D {
  const kernelAttrs: KernelAttrs = { ...attrs, routing: tapeOn() };
  const [p, arg, y] = tf.engine().runKernel(CONV_RELU_POOL, { x, filter, bias }, kernelAttrs as unknown as tf.NamedAttrMap) as unknown as tf.Tensor[];
  // a gradient tape keeps its own references to what it saved
  tf.dispose([arg!, y!]);
  return p as tf.Tensor4D;
}

/** Whether a gradient is being recorded (tf.js' engine knows; its .d.ts does not say). */
function tapeOn(): boolean {
  return (tf.engine() as unknown as { isTapeOn(): boolean }).isTapeOn();
}

let enabled = true;

/** Turns the fused block off (or back on), for benchmarks and tests that compare it with the separate kernels. */
export function setConvReluPool(on: boolean): void {
  enabled = on;
}

/**
 * Whether a layer should run its relu convolution of `xShape` by `filterShape` and the 2x2 pool
 * after it as KdqConvReluPool: registered for the active backend, not turned off, and either a
 * gradient being recorded or the block pooling in one pass (conv_direct's pooling mode, kdq's SIMD kernels
 * present). Otherwise inference (soft labels, test logits) keeps the separate kernels: there the
 * two-pass block would write routing bytes for a backward pass that never comes.
 */
export function convReluPoolAvailable(xShape: readonly number[], filterShape: readonly number[], attrs: ConvReluPoolAttrs): boolean {
  if (!enabled || tf.getKernel(CONV_RELU_POOL, tf.getBackend()) === undefined) return false;
  if (tapeOn()) return true;
  return simdKernels(tf.backend() as unknown as BackendWasm) !== null && onePassGeometry(xShape, filterShape, attrs) !== null;
}
