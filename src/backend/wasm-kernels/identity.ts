/**
 * Identity for the wasm backend without a copy. tf.js clones every tensor a gradient saves
 * (`saveTensorsForBackwardMode`), and the stock wasm Identity copies the whole buffer each time,
 * about 1 ms per teacher step. No wasm kernel writes into a buffer that another tensor shares
 * (KdqAdamUpdate writes its moments in place only while their reference count is 1), so sharing
 * the buffer and counting the reference is safe; the cpu backend does the same, as does the wasm
 * Reshape.
 */
import type * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { shareBuffer } from './wasm-heap.ts';

type Args = { inputs: { x: tf.TensorInfo }; backend: BackendWasm };

/** Wraps the stock kernel, which still handles string tensors. */
export function sharedIdentityConfig(original: tf.KernelConfig): tf.KernelConfig {
  const fallback = original.kernelFunc as unknown as (args: Args) => tf.TensorInfo;
  function identity(args: Args): tf.TensorInfo {
    const { x } = args.inputs;
    if (x.dtype === 'string') return fallback(args);
    return shareBuffer(args.backend, x);
  }
  return { ...original, kernelFunc: identity as unknown as tf.KernelFunc };
}
