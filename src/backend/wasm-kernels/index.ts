/**
 * kdq's kernels for the wasm backend: the gradients it lacks (so every layer in LAYER_TYPES can
 * train) and faster versions of the ones that dominate a training step: convolutions as SIMD
 * products of im2col blocks (conv-gemm.ts), depthwise convolution, batch normalization and relu
 * in one kernel each way, bias sums, pooling gradients, Adam, the Dense layers' products.
 */
import * as tf from '@tensorflow/tfjs';
import { adamUpdateConfig } from './adam-update.ts';
import { fastBatchMatMulConfig } from './batch-mat-mul.ts';
import { conv2dBackpropFilterConfig } from './conv2d-backprop-filter.ts';
import { depthwiseConv2dBackpropFilterConfig } from './depthwise-conv2d-backprop-filter.ts';
import { depthwiseConv2dBackpropInputConfig } from './depthwise-conv2d-backprop-input.ts';
import { maxPoolGradConfig } from './max-pool-grad.ts';
import { simdMaxPoolConfig } from './max-pool.ts';
import { sharedIdentityConfig } from './identity.ts';
import { fastSliceConfig } from './slice.ts';
import { FUSED_CONV2D, FUSED_DENSE, fusedConv2dConfig, fusedConv2dGradConfig, fusedDenseConfig, fusedDenseGradConfig } from './fused-layers.ts';
import { reluBiasGradConfig } from './relu-bias-grad.ts';
import { simdConv2dBackpropInputConfig, simdConv2dConfig } from './conv2d.ts';
import { batchNormTrainConfig, batchNormTrainGradConfig, batchNormTrainGradKernelConfig } from './batch-norm.ts';
import { RELU, reluConfig, reluGradConfig, reluGradKernelConfig } from './relu.ts';
import { simdDepthwiseConv2dConfig } from './depthwise-conv2d.ts';
import { simdSumConfig } from './sum.ts';
import { simdAvgPoolGradConfig } from './avg-pool-grad.ts';
import { convReluPoolConfig, convReluPoolGradConfig, unpoolReluGradConfig } from './conv-relu-pool.ts';

/**
 * Kernels the stock backend does not register at all: three gradients, then kdq's own (one Adam
 * step per variable for FastAdamOptimizer; the fused-layer backward pass; batch normalization
 * while training, both ways; relu's one-pass gradient; a relu convolution and its 2x2 max pool
 * as one kernel each way).
 */
const MISSING: readonly tf.KernelConfig[] = [
  conv2dBackpropFilterConfig,
  depthwiseConv2dBackpropFilterConfig,
  depthwiseConv2dBackpropInputConfig,
  adamUpdateConfig,
  reluBiasGradConfig,
  batchNormTrainConfig,
  batchNormTrainGradKernelConfig,
  reluGradKernelConfig,
  convReluPoolConfig,
  unpoolReluGradConfig,
];

/** kdq's kernels built on stock ones (so made once those exist): fused layers, relu. */
const FUSED = [fusedConv2dConfig, fusedDenseConfig, reluConfig] as const;

/** Replacements built from the stock kernel, which they call for the cases they leave alone. */
const OVERRIDES: Readonly<Record<string, (original: tf.KernelConfig) => tf.KernelConfig>> = {
  BatchMatMul: fastBatchMatMulConfig,
  Conv2D: simdConv2dConfig,
  FusedConv2D: simdConv2dConfig,
  Conv2DBackpropInput: simdConv2dBackpropInputConfig,
  DepthwiseConv2dNative: simdDepthwiseConv2dConfig,
  FusedDepthwiseConv2D: simdDepthwiseConv2dConfig,
  Sum: simdSumConfig,
  AvgPoolGrad: simdAvgPoolGradConfig,
  Identity: sharedIdentityConfig,
  MaxPool: simdMaxPoolConfig,
  MaxPoolGrad: () => maxPoolGradConfig,
  Slice: fastSliceConfig,
};

/** Names of every kernel kdq registers or replaces on wasm. */
export const KDQ_WASM_KERNELS: readonly string[] = [...MISSING.map((k) => k.kernelName), FUSED_CONV2D, FUSED_DENSE, RELU, ...Object.keys(OVERRIDES)];

let registered = false;
/** The stock kernels kdq replaced, by name, so a later call can put them back. */
const replaced = new Map<string, tf.KernelConfig>();

/**
 * Registers kdq's wasm kernels. Must first run before `tf.setBackend('wasm')`: the engine runs
 * each kernel's `setupFunc` when the backend initialises, and the overrides keep the stock kernel's
 * `setupFunc` because their fallback path needs it. The missing kernels are always registered;
 * `only` makes exactly those overrides active (for benchmarks that measure them one at a time),
 * putting back the stock kernel of every other one, on this call and on any later one.
 */
export function registerWasmKernels(only?: readonly string[]): void {
  if (!registered) {
    registered = true;
    for (const config of MISSING) {
      if (tf.getKernel(config.kernelName, 'wasm') === undefined) tf.registerKernel(config);
    }
    for (const make of FUSED) {
      const config = make('wasm');
      if (config !== undefined && tf.getKernel(config.kernelName, 'wasm') === undefined) tf.registerKernel(config);
    }
    for (const grad of [fusedConv2dGradConfig, fusedDenseGradConfig, batchNormTrainGradConfig, reluGradConfig, convReluPoolGradConfig]) {
      if (tf.getGradient(grad.kernelName) === undefined) tf.registerGradient(grad);
    }
  }
  for (const [name, build] of Object.entries(OVERRIDES)) {
    const want = only === undefined || only.includes(name);
    const stock = replaced.get(name);
    if (want && stock === undefined) {
      const original = tf.getKernel(name, 'wasm');
      if (original === undefined) continue;
      tf.unregisterKernel(name, 'wasm');
      tf.registerKernel(build(original));
      replaced.set(name, original);
    } else if (!want && stock !== undefined) {
      tf.unregisterKernel(name, 'wasm');
      tf.registerKernel(stock);
      replaced.delete(name);
    }
  }
}

/** Names of the overrides active now (see registerWasmKernels' `only`). */
export function activeWasmOverrides(): string[] {
  return [...replaced.keys()].sort();
}
