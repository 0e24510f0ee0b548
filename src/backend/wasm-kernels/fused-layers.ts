/**
 * Conv2D and Dense with bias and relu fused, for training on wasm. tf.js only fuses bias and
 * activation into one XNNPACK call outside gradient tapes (`shouldFuse`); while training it runs
 * the product, an Add, a Relu and their gradients (Step, Cast, Multiply, a transposing Sum) as
 * separate kernels. These two kernels call the backend's own fused kernels forward, and their
 * gradients take dz and db from one pass (KdqReluBiasGrad), computing dx and dW only when asked.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { intraOp, MIN_SPLIT_MACS, shareRange, type KernelCall } from '../intra-op/index.ts';
import { heapOffset, simdKernels } from '../simd/index.ts';
import { simdConv2d } from './conv2d.ts';
import { RELU_BIAS_GRAD } from './relu-bias-grad.ts';

export const FUSED_CONV2D = 'KdqFusedConv2D';
export const FUSED_DENSE = 'KdqFusedDense';

/** The activations these kernels fuse. */
export type FusedActivation = 'relu' | 'linear';

export interface FusedConv2DAttrs {
  strides: [number, number];
  pad: 'valid' | 'same';
  activation: FusedActivation;
}

export interface FusedDenseAttrs {
  activation: FusedActivation;
}

type KernelArgs = Parameters<tf.KernelFunc>[0];

/** Our conv kernel for `backendName`, delegating to its stock FusedConv2D. */
export function fusedConv2dConfig(backendName: string): tf.KernelConfig | undefined {
  const stock = tf.getKernel('FusedConv2D', backendName);
  if (stock === undefined) return undefined;
  return {
    kernelName: FUSED_CONV2D,
    backendName,
    kernelFunc: (args: KernelArgs) => {
      const a = args.attrs as unknown as FusedConv2DAttrs;
      const attrs = {
        strides: a.strides,
        pad: a.pad,
        activation: a.activation,
        dataFormat: 'NHWC' as const,
        dilations: [1, 1] as [number, number],
        leakyreluAlpha: 0,
      };
      // On wasm, kdq's SIMD convolution (conv2d.ts); the stock kernel where it does not apply.
      if (backendName === 'wasm') {
        const { x, filter, bias } = args.inputs as unknown as { x: tf.TensorInfo; filter: tf.TensorInfo; bias: tf.TensorInfo };
        const out = simdConv2d({ inputs: { x, filter, bias }, backend: args.backend as unknown as BackendWasm, attrs });
        if (out !== undefined) return out;
      }
      return stock.kernelFunc({ ...args, attrs: attrs as unknown as tf.NamedAttrMap });
    },
  };
}

/** Our dense kernel for `backendName`, delegating to its stock _FusedMatMul. */
export function fusedDenseConfig(backendName: string): tf.KernelConfig | undefined {
  const stock = tf.getKernel('_FusedMatMul', backendName);
  if (stock === undefined) return undefined;
  return {
    kernelName: FUSED_DENSE,
    backendName,
    kernelFunc: (args: KernelArgs) => {
      const { x, kernel, bias } = args.inputs as unknown as { x: tf.TensorInfo; kernel: tf.TensorInfo; bias: tf.TensorInfo };
      const a = args.attrs as unknown as FusedDenseAttrs;
      const [m, k] = x.shape;
      const n = kernel.shape[1];
      // On wasm, kdq's SIMD kernel reads the weights where they lie (see dense_forward in kernels.wat).
      const simd = backendName === 'wasm' ? simdKernels(args.backend as unknown as BackendWasm) : null;
      if (simd !== null && n % 8 === 0 && x.dtype === 'float32' && kernel.dtype === 'float32' && bias.dtype === 'float32') {
        const backend = args.backend as unknown as BackendWasm;
        const out = backend.makeOutput([m, n], 'float32');
        const pool = m * k * n >= MIN_SPLIT_MACS && n >= 16 ? intraOp(backend) : null;
        // one packed block of columns per thread
        const pack = backend.makeOutput([(pool !== null ? 2 : 1) * k * 8], 'float32');
        const at = (t: tf.TensorInfo) => heapOffset(backend, t);
        const relu = a.activation === 'relu' ? 1 : 0;
        const part = (n0: number, n1: number, packAt: number): KernelCall => [
          'dense_forward',
          at(x),
          at(kernel),
          at(bias),
          at(out),
          packAt,
          m,
          k,
          n,
          n0,
          n1,
          relu,
        ];
        // ranges of whole 8-column blocks, which the threads share out, each packing into its own block
        shareRange(pool, simd, n, 8, (n0, n1, helper) => part(n0, n1, at(pack) + (helper ? 32 * k : 0)));
        backend.disposeData(pack.dataId);
        return out;
      }
      // The stock kernel takes batched (3-D) operands, as tf.fused.matMul reshapes them.
      const out = stock.kernelFunc({
        ...args,
        inputs: { a: { ...x, shape: [1, m, k] }, b: { ...kernel, shape: [1, k, n] }, bias },
        attrs: { transposeA: false, transposeB: false, activation: a.activation, leakyreluAlpha: 0 },
      }) as tf.TensorInfo;
      return { ...out, shape: [m, n] };
    },
  };
}

/**
 * dz and db of a fused layer from its output gradient and output: for relu both from one pass,
 * for linear dz is dy and db a sum over all but the last axis, computed only when asked for.
 */
export function biasActivationGrad(dy: tf.Tensor, y: tf.Tensor, activation: FusedActivation): { dz: tf.Tensor; db: () => tf.Tensor } {
  if (activation === 'relu') {
    const [dz, db] = tf.engine().runKernel(RELU_BIAS_GRAD, { dy, y }) as unknown as [tf.Tensor, tf.Tensor];
    return { dz, db: () => db };
  }
  return {
    dz: dy,
    db: () =>
      tf.sum(
        dy,
        dy.shape.slice(0, -1).map((_, i) => i),
      ),
  };
}

/**
 * A convolution's gradients from dz (the gradient before its bias and activation) and its bias
 * gradient, each computed only when asked for.
 */
export function convGradients(
  x: tf.Tensor,
  filter: tf.Tensor,
  dz: tf.Tensor,
  db: () => tf.Tensor,
  a: Pick<FusedConv2DAttrs, 'strides' | 'pad'>,
): Record<'x' | 'filter' | 'bias', () => tf.Tensor> {
  const common = { strides: a.strides, pad: a.pad, dataFormat: 'NHWC', dimRoundingMode: undefined };
  return {
    x: () => tf.engine().runKernel('Conv2DBackpropInput', { dy: dz, filter }, { ...common, inputShape: x.shape } as unknown as tf.NamedAttrMap) as tf.Tensor,
    filter: () =>
      tf.engine().runKernel('Conv2DBackpropFilter', { x, dy: dz }, { ...common, filterShape: filter.shape } as unknown as tf.NamedAttrMap) as tf.Tensor,
    bias: db,
  };
}

export const fusedConv2dGradConfig: tf.GradConfig = {
  kernelName: FUSED_CONV2D,
  inputsToSave: ['x', 'filter'],
  outputsToSave: [true],
  gradFunc: (dy, saved, attrs) => {
    const [x, filter, y] = saved;
    const a = attrs as unknown as FusedConv2DAttrs;
    const { dz, db } = biasActivationGrad(dy as tf.Tensor, y, a.activation);
    return convGradients(x, filter, dz, db, a);
  },
};

export const fusedDenseGradConfig: tf.GradConfig = {
  kernelName: FUSED_DENSE,
  inputsToSave: ['x', 'kernel'],
  outputsToSave: [true],
  gradFunc: (dy, saved, attrs) => {
    const [x, kernel, y] = saved;
    const a = attrs as unknown as FusedDenseAttrs;
    const { dz, db } = biasActivationGrad(dy as tf.Tensor, y, a.activation);
    return {
      x: () => tf.matMul(dz, kernel, false, true),
      kernel: () => tf.matMul(x, dz, true, false),
      bias: db,
    };
  },
};

/** y = act(conv2d(x, filter) + bias), NHWC, dilation 1, through FUSED_CONV2D. */
export function fusedConv2d(x: tf.Tensor4D, filter: tf.Tensor4D, bias: tf.Tensor1D, attrs: FusedConv2DAttrs): tf.Tensor4D {
  return tf.engine().runKernel(FUSED_CONV2D, { x, filter, bias }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor4D;
}

/** y = act(x kernel + bias) for 2-D x, through FUSED_DENSE. */
export function fusedDense(x: tf.Tensor2D, kernel: tf.Tensor2D, bias: tf.Tensor1D, activation: FusedActivation): tf.Tensor2D {
  return tf.engine().runKernel(FUSED_DENSE, { x, kernel, bias }, { activation } as unknown as tf.NamedAttrMap) as tf.Tensor2D;
}

/** Whether the active backend has kdq's fused layer kernels. */
export function fusedLayersAvailable(): boolean {
  return tf.getKernel(FUSED_CONV2D, tf.getBackend()) !== undefined && tf.getKernel(FUSED_DENSE, tf.getBackend()) !== undefined;
}
