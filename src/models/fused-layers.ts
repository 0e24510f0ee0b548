/**
 * Lets tf.js layers train through kdq's kernels on backends that have them: Conv2D and Dense with
 * bias and relu through the fused kernels (src/backend/wasm-kernels/fused-layers.ts), batch
 * normalization in training through one kernel each way (batch-norm.ts), relu activation layers
 * through KdqRelu (relu.ts). A layer stays a stock tf.js layer (same class name, weights and
 * config, so export and saving see no difference); only its `call` takes kdq's path when every
 * condition holds, and the stock one otherwise.
 */
import * as tf from '@tensorflow/tfjs';
import { batchNormTrainAvailable, batchNormTrainOp } from '../backend/wasm-kernels/batch-norm.ts';
import { convReluPoolAvailable, convReluPoolOp } from '../backend/wasm-kernels/conv-relu-pool.ts';
import { fusedConv2d, fusedDense, fusedLayersAvailable, type FusedActivation } from '../backend/wasm-kernels/fused-layers.ts';
import { reluAvailable, reluOp } from '../backend/wasm-kernels/relu.ts';

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

/** The layer's activation when the fused kernels compute it, else null. */
function fusedActivation(l: LayerInternals): FusedActivation | null {
  const name = l.activation === null ? 'linear' : l.activation.getClassName();
  return name === 'relu' || name === 'linear' ? name : null;
}

function dilationIsOne(d: number | number[] | undefined): boolean {
  return d === undefined || (Array.isArray(d) ? d.every((v) => v === 1) : d === 1);
}

/**
 * The fused kernels' attributes for a 2-D conv layer on x, or null when the fused path does not
 * apply. A linear conv (one before batch normalization) takes it too: tf.js' own fused conv
 * computes the input gradient with the others, even for a first layer whose input is the data.
 */
function convAttrs(l: LayerInternals, x: tf.Tensor): { strides: [number, number]; pad: 'valid' | 'same'; activation: FusedActivation } | null {
  const activation = fusedActivation(l);
  if (
    x.rank !== 4 ||
    l.rank !== 2 ||
    l.kernel === null ||
    l.bias === null ||
    activation === null ||
    l.dataFormat !== 'channelsLast' ||
    !dilationIsOne(l.dilationRate) ||
    (l.padding !== 'valid' && l.padding !== 'same') ||
    l.strides === undefined
  ) {
    return null;
  }
  return { strides: [l.strides[0], l.strides[1]], pad: l.padding, activation };
}

/** The fused output of a 2-D conv layer, or null when the fused path does not apply. */
function convCall(l: LayerInternals, x: tf.Tensor): tf.Tensor | null {
  const attrs = convAttrs(l, x);
  if (attrs === null) return null;
  return fusedConv2d(x as tf.Tensor4D, l.kernel!.read() as tf.Tensor4D, l.bias!.read() as tf.Tensor1D, attrs);
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

/** Outputs of a convolution layer that already hold the max pooling of the layer after it. */
const pooledAlready = new WeakSet<tf.Tensor>();

/**
 * Makes a relu Conv2D layer and the 2x2, stride 2, 'valid' MaxPooling2D right after it run as one
 * kernel each way (KdqConvReluPool) where it is registered: the conv layer then returns the
 * pooled output and the pooling layer passes it on (as a new tensor on the same buffer: tf.js
 * layers may dispose a layer's input once used). The caller checks that the pooling layer is that one, and that
 * nothing else reads the convolution's output. Either layer on its own, or any condition of the
 * fused path not holding, keeps the layers' own calls.
 */
export function fuseConvPool(conv: tf.layers.Layer, pool: tf.layers.Layer): void {
  const convOwn: Call = conv.call.bind(conv);
  const poolOwn: Call = pool.call.bind(pool);
  conv.call = (inputs, kwargs) => {
    const x = single(inputs);
    const l = conv as unknown as LayerInternals;
    const attrs = x === null ? null : convAttrs(l, x);
    if (x !== null && attrs !== null && attrs.activation === 'relu') {
      const block = { strides: attrs.strides, pad: attrs.pad };
      const kernel = l.kernel!.read() as tf.Tensor4D;
      if (convReluPoolAvailable(x.shape, kernel.shape, block)) {
        const pooled = convReluPoolOp(x as tf.Tensor4D, kernel, l.bias!.read() as tf.Tensor1D, block);
        pooledAlready.add(pooled);
        return pooled;
      }
    }
    return convOwn(inputs, kwargs);
  };
  pool.call = (inputs, kwargs) => {
    const x = single(inputs);
    // a reshape to its own shape shares the buffer, both ways
    if (x !== null && pooledAlready.has(x)) return tf.reshape(x, x.shape);
    return poolOwn(inputs, kwargs);
  };
}

/** The fields of tf.js' BatchNormalization layer read here (TypeScript-protected in tf.js). */
interface BatchNormInternals {
  axis: number;
  momentum: number;
  epsilon: number;
  gamma: tf.LayerVariable | null;
  beta: tf.LayerVariable | null;
  movingMean: tf.LayerVariable;
  movingVariance: tf.LayerVariable;
}

/** `LayerVariable.write`, public in tf.js' JavaScript but not in its .d.ts. */
type Writable = { read(): tf.Tensor; write(v: tf.Tensor): void };

/**
 * Makes a tf.js BatchNormalization layer normalize over every axis but the last through kdq's
 * kernel while training, which also returns the moving statistics updated exactly as tf.js'
 * layer updates them (v <- v - (v - batch value) (1 - momentum), in float32); inference and other
 * axes keep the stock path.
 */
export function fuseBatchNormForTraining<L extends tf.layers.Layer>(layer: L): L {
  const stock: Call = layer.call.bind(layer);
  layer.call = (inputs, kwargs) => {
    const x = single(inputs);
    const l = layer as unknown as BatchNormInternals;
    const lastAxis = x !== null && (l.axis === -1 || l.axis === x.rank - 1);
    if (kwargs?.['training'] === true && x !== null && lastAxis && l.gamma !== null && l.beta !== null && batchNormTrainAvailable()) {
      const params = {
        gamma: l.gamma.read() as tf.Tensor1D,
        beta: l.beta.read() as tf.Tensor1D,
        movingMean: l.movingMean.read() as tf.Tensor1D,
        movingVariance: l.movingVariance.read() as tf.Tensor1D,
      };
      const r = batchNormTrainOp(x, params, { epsilon: l.epsilon, momentum: l.momentum });
      (l.movingMean as unknown as Writable).write(r.movingMean);
      (l.movingVariance as unknown as Writable).write(r.movingVariance);
      // the variables hold their own references; the batch statistics live on in the gradient's saved tensors
      tf.dispose([r.mean, r.variance, r.movingMean, r.movingVariance]);
      return r.y;
    }
    return stock(inputs, kwargs);
  };
  return layer;
}

/** Makes a tf.js relu Activation layer run KdqRelu (one-pass gradient) where it is registered. */
export function fuseReluActivation<L extends tf.layers.Layer>(layer: L): L {
  const stock: Call = layer.call.bind(layer);
  const isRelu = (layer.getConfig() as { activation?: string }).activation === 'relu';
  if (!isRelu) return layer;
  layer.call = (inputs, kwargs) => {
    const x = single(inputs);
    if (x !== null && reluAvailable()) return reluOp(x);
    return stock(inputs, kwargs);
  };
  return layer;
}
