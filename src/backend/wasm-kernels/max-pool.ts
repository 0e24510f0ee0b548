/**
 * MaxPool on wasm for 2x2 windows at stride 2 without padding, channels in fours (the pooling of
 * every kdq network so far): one SIMD pass (max_pool_2x2), images shared out with a second
 * thread. Minimum of 200 calls, ms, stock against this on one thread: kd-mnist's teacher
 * [32, 26, 26, 32] 0.262 / 0.168, the 32x32x3 CNN's [32, 30, 30, 32] 0.346 / 0.212, soft labels'
 * batches of 256 3.58 / 2.49 (1.46 on two threads). A maximum is exact, so the values are the
 * stock kernel's (test/backend/simd.test.ts compares them); other pools go to the stock kernel.
 */
import type * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { simdKernels } from '../simd/index.ts';
import { isPool2x2, pool2x2Images, poolInfo, type PoolAttrs } from './pool-geometry.ts';

type Args = { inputs: { x: tf.TensorInfo }; backend: BackendWasm; attrs: PoolAttrs };

/** The 2x2 pool's output, or undefined when the stock kernel should run. */
function maxPool2x2(args: Args): tf.TensorInfo | undefined {
  const { inputs, backend, attrs } = args;
  const { x } = inputs;
  const simd = simdKernels(backend);
  if (simd === null || x.dtype !== 'float32' || x.shape.length !== 4) return undefined;
  const info = poolInfo(x.shape, attrs);
  if (!isPool2x2(info)) return undefined;
  const y = backend.makeOutput([info.batchSize, info.outHeight, info.outWidth, info.inChannels], 'float32');
  pool2x2Images(backend, simd, info, 'max_pool_2x2', [
    [x, 'in'],
    [y, 'out'],
  ]);
  return y;
}

/** MaxPool: the SIMD path where it applies, else the stock kernel. */
export function simdMaxPoolConfig(original: tf.KernelConfig): tf.KernelConfig {
  const fallback = original.kernelFunc as unknown as (args: Args) => tf.TensorInfo;
  const kernelFunc = (args: Args) => maxPool2x2(args) ?? fallback(args);
  return { ...original, kernelFunc: kernelFunc as unknown as tf.KernelFunc };
}
