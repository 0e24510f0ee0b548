/**
 * Runs a LoweredModel in float32 with tf.js ops: the tensors the .tflite file will contain,
 * after batch-norm folding and activation fusion. Calibration observes these tensors (so the
 * ranges belong to exactly the tensors the file quantizes, logits before SOFTMAX included), and
 * tests use it to check the lowering against the tf.js model.
 */
import * as tf from '@tensorflow/tfjs';
import { INPUT_STEP, type LoweredModel, type Step } from './lower.ts';

/** One step on its inputs `xs` (in the step's input order). */
function stepForward(s: Step, xs: tf.Tensor[]): tf.Tensor {
  const x = xs[0]!;
  switch (s.kind) {
    case 'conv2d':
    case 'depthwiseConv2d':
    case 'dense': {
      let y: tf.Tensor;
      if (s.kind === 'conv2d') {
        const [cout, kh, kw, cin] = s.weightShape;
        const k = tf.transpose(tf.tensor4d(s.weights, [cout, kh, kw, cin]), [1, 2, 3, 0]) as tf.Tensor4D;
        y = tf.conv2d(x as tf.Tensor4D, k, s.strides, s.padding === 'SAME' ? 'same' : 'valid', 'NHWC', s.dilation);
      } else if (s.kind === 'depthwiseConv2d') {
        const [, kh, kw, c] = s.weightShape;
        const k = tf.tensor4d(s.weights, [kh, kw, c / s.depthMultiplier, s.depthMultiplier]);
        y = tf.depthwiseConv2d(x as tf.Tensor4D, k, s.strides, s.padding === 'SAME' ? 'same' : 'valid', 'NHWC', s.dilation);
      } else {
        const [nout, nin] = s.weightShape;
        y = tf.matMul(x as tf.Tensor2D, tf.tensor2d(s.weights, [nout, nin]), false, true);
      }
      y = tf.add(y, tf.tensor1d(s.bias));
      if (s.activation === 'RELU') y = tf.relu(y);
      if (s.activation === 'RELU6') y = tf.relu6(y);
      return y;
    }
    case 'maxPool':
      return tf.maxPool(x as tf.Tensor4D, s.pool, s.strides, s.padding === 'SAME' ? 'same' : 'valid');
    case 'averagePool':
      return tf.avgPool(x as tf.Tensor4D, s.pool, s.strides, s.padding === 'SAME' ? 'same' : 'valid');
    case 'mean':
      return tf.mean(x, [1, 2]);
    case 'reshape':
      return tf.reshape(x, [x.shape[0], -1]);
    case 'relu':
      return tf.relu(x);
    case 'relu6':
      return tf.relu6(x);
    case 'tanh':
      return tf.tanh(x);
    case 'sigmoid':
      return tf.sigmoid(x);
    case 'add':
    case 'mul': {
      const other = s.constant ? tf.tensor1d(s.constant) : xs[1]!;
      let y = s.kind === 'add' ? tf.add(x, other) : tf.mul(x, other);
      if (s.activation === 'RELU') y = tf.relu(y);
      if (s.activation === 'RELU6') y = tf.relu6(y);
      return y;
    }
    case 'concatenate':
      return tf.concat(xs, -1);
  }
}

/**
 * Every step's output for a batch of NHWC images or [N, F] rows: result[i] is the output of
 * steps[i], the last being the logits. The caller disposes the returned tensors.
 */
export function forwardLowered(m: LoweredModel, images: tf.Tensor): tf.Tensor[] {
  const outs: tf.Tensor[] = [];
  for (const s of m.steps) {
    const xs = s.inputs.map((i) => (i === INPUT_STEP ? images : outs[i]!));
    outs.push(tf.tidy(() => stepForward(s, xs)));
  }
  return outs;
}
