/**
 * Identity for the wasm backend without a copy. tf.js clones every tensor a gradient saves
 * (`saveTensorsForBackwardMode`), and the stock wasm Identity copies the whole buffer each time,
 * about 1 ms per teacher step. No wasm kernel writes into its inputs, so sharing the buffer and
 * counting the reference is safe; the cpu backend does the same, as does the wasm Reshape.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

type Args = { inputs: { x: tf.TensorInfo }; backend: BackendWasm };

/** Wraps the stock kernel, which still handles string tensors. */
export function sharedIdentityConfig(original: tf.KernelConfig): tf.KernelConfig {
  const fallback = original.kernelFunc as unknown as (args: Args) => tf.TensorInfo;
  function identity(args: Args): tf.TensorInfo {
    const { x } = args.inputs;
    if (x.dtype === 'string') return fallback(args);
    args.backend.incRef(x.dataId);
    return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
  }
  return { ...original, kernelFunc: identity as unknown as tf.KernelFunc };
}
