/**
 * Lets a tf.js Conv2D or Dense layer with bias and relu train through kdq's fused kernels
 * (src/backend/wasm-kernels/fused-layers.ts) on backends that have them. The layer stays a stock
 * tf.js layer (same class name, weights and config, so export and saving see no difference); only
 * its `call` takes the fused path when every condition holds, and the stock one otherwise.
 */
import type * as tf from '@tensorflow/tfjs';
import { fusedConv2d, fusedDense, fusedLayersAvailable } from '../backend/wasm-kernels/fused-layers.ts';

/** The fields of tf.js' Conv and Dense layers read here (TypeScript-protected in tf.js). */
interface LayerInternals {
  kernel: tf.LayerVariable | null;
  bias: tf.LayerVariable | null;
  activation: { getClassName(): string } | null;
  rank?: number;
  strides?: number[];
  padding?: string;
  dataFormat?: string;
  dilationRate?: number | number[];
}

type Call = tf.layers.Layer['call'];

function single(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor | null {
  if (!Array.isArray(inputs)) return inputs;
  return inputs.length === 1 ? inputs[0] : null;
}

function isRelu(l: LayerInternals): boolean {
  return l.activation !== null && l.activation.getClassName() === 'relu';
}

function dilationIsOne(d: number | number[] | undefined): boolean {
  return d === undefined || (Array.isArray(d) ? d.every((v) => v === 1) : d === 1);
}

/** The fused output of a 2-D conv layer, or null when the fused path does not apply. */
function convCall(l: LayerInternals, x: tf.Tensor): tf.Tensor | null {
  if (
    x.rank !== 4 || l.rank !== 2 || l.kernel === null || l.bias === null || !isRelu(l) ||
    l.dataFormat !== 'channelsLast' || !dilationIsOne(l.dilationRate) || (l.padding !== 'valid' && l.padding !== 'same') ||
    l.strides === undefined
  ) {
    return null;
  }
  return fusedConv2d(x as tf.Tensor4D, l.kernel.read() as tf.Tensor4D, l.bias.read() as tf.Tensor1D, {
    strides: [l.strides[0], l.strides[1]],
    pad: l.padding,
    activation: 'relu',
  });
}

/** The fused output of a dense layer, or null when the fused path does not apply. */
function denseCall(l: LayerInternals, x: tf.Tensor): tf.Tensor | null {
  if (x.rank !== 2 || l.kernel === null || l.bias === null || !isRelu(l)) return null;
  return fusedDense(x as tf.Tensor2D, l.kernel.read() as tf.Tensor2D, l.bias.read() as tf.Tensor1D, 'relu');
}

const FUSED_CALLS = { conv2d: convCall, dense: denseCall } as const;

/** Makes `layer` (a tf.js Conv2D or Dense) use the fused kernels when it can; returns it. */
export function fuseForTraining<L extends tf.layers.Layer>(layer: L, kind: keyof typeof FUSED_CALLS): L {
  const stock: Call = layer.call.bind(layer);
  const fused = FUSED_CALLS[kind];
  layer.call = (inputs, kwargs) => {
    const x = single(inputs);
    if (x !== null && fusedLayersAvailable()) {
      // One kernel call and no temporaries, so no tidy is needed.
      const out = fused(layer as unknown as LayerInternals, x);
      if (out !== null) return out;
    }
    return stock(inputs, kwargs);
  };
  return layer;
}
