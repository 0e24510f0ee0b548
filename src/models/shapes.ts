/**
 * Output shapes and parameter counts of a layer list, computed without tf.js so that the config
 * loader can reject a network that cannot be built (a kernel larger than its input, a dense layer
 * on an image) with the line of the offending layer, before any training starts.
 * Shapes have no batch dimension: an image is [h, w, c], a vector [n].
 */
import type { LayerSpec } from '../config/types.ts';
import { KdqError } from '../errors.ts';

/** MNIST and Fashion-MNIST images. */
export const MNIST_INPUT_SHAPE: readonly number[] = [28, 28, 1];
export const MNIST_CLASSES = 10;

/** A layer that cannot be built: `key` is the layer argument to change (`type` for the layer itself). */
export interface ShapeIssue {
  index: number;
  key: string;
  message: string;
}

export interface ShapeResult {
  /** Output shape of each layer; a layer after an issue keeps the last valid shape. */
  shapes: number[][];
  issues: ShapeIssue[];
}

function pair(v: number | [number, number]): [number, number] {
  return typeof v === 'number' ? [v, v] : v;
}

/** tf.js conv/pool output length of one spatial dimension. */
export function convOutputLength(input: number, kernel: number, stride: number, padding: 'valid' | 'same'): number {
  return padding === 'same' ? Math.ceil(input / stride) : Math.floor((input - kernel) / stride) + 1;
}

/** Shapes and per-layer issues, without the check of the final output. */
function walkShapes(layers: LayerSpec[], inputShape: readonly number[]): ShapeResult {
  const shapes: number[][] = [];
  const issues: ShapeIssue[] = [];
  let shape = [...inputShape];
  layers.forEach((layer, index) => {
    // After the first broken layer every later shape is a guess; stop rather than cascade.
    if (issues.length > 0) {
      shapes.push([...shape]);
      return;
    }
    const issue = (key: string, message: string): void => {
      issues.push({ index, key, message: `layer ${index} (${layer.type}): ${message}` });
    };
    const dims = `[${shape.join(', ')}]`;
    switch (layer.type) {
      case 'conv2d':
      case 'depthwiseConv2d':
      case 'maxPooling2d':
      case 'averagePooling2d': {
        if (shape.length !== 3) {
          issue('type', `needs an image input [height, width, channels] but gets ${dims}; move it before the flatten or dense layers`);
          break;
        }
        const isPool = layer.type === 'maxPooling2d' || layer.type === 'averagePooling2d';
        const windowKey = isPool ? 'poolSize' : 'kernelSize';
        const window = 'poolSize' in layer ? layer.poolSize : layer.kernelSize;
        const [kh, kw] = pair(window);
        const [sh, sw] = pair(layer.strides ?? window);
        const [h, w, c] = shape as [number, number, number];
        if (layer.padding === 'valid' && (kh > h || kw > w)) {
          issue(windowKey, `window ${kh}x${kw} is larger than its input ${h}x${w}; use a smaller ${windowKey}, padding 'same', or fewer layers before it`);
          break;
        }
        const out: number[] = [convOutputLength(h, kh, sh, layer.padding), convOutputLength(w, kw, sw, layer.padding)];
        const channels = layer.type === 'conv2d' ? layer.filters : layer.type === 'depthwiseConv2d' ? c * layer.depthMultiplier : c;
        shape = [...out, channels];
        break;
      }
      case 'globalAveragePooling2d':
        if (shape.length !== 3) {
          issue('type', `averages over height and width but gets ${dims}; use it on an image, before any flatten`);
          break;
        }
        shape = [shape[2]!];
        break;
      case 'flatten':
        if (shape.length < 2) {
          issue('type', `input ${dims} is already flat; remove this flatten`);
          break;
        }
        shape = [shape.reduce((a, b) => a * b, 1)];
        break;
      case 'dense':
        if (shape.length !== 1) {
          issue('type', `needs a flat input but gets ${dims}; add { type: flatten } before it`);
          break;
        }
        shape = [layer.units];
        break;
      case 'dropout':
      case 'batchNormalization':
      case 'activation':
        break;
    }
    shapes.push([...shape]);
  });
  return { shapes, issues };
}

/**
 * Output shape of every layer for an input of `inputShape` ([h, w, c]), and every reason the
 * list cannot be built, including a final output that is not [numClasses] logits.
 */
export function inferShapes(layers: LayerSpec[], inputShape: readonly number[], numClasses = MNIST_CLASSES): ShapeResult {
  const { shapes, issues } = walkShapes(layers, inputShape);
  const shape = shapes[shapes.length - 1] ?? [...inputShape];
  if (layers.length > 0 && issues.length === 0 && (shape.length !== 1 || shape[0] !== numClasses)) {
    const last = layers.length - 1;
    issues.push({
      index: last,
      key: 'type',
      message: `layer ${last} (${layers[last]!.type}): the network must end in ${numClasses} logits (shape [${numClasses}]) but outputs [${shape.join(', ')}]; end with { type: dense, units: ${numClasses} }`,
    });
  }
  return { shapes, issues };
}

/** Parameters of a layer whose input has shape `input`, trainable and not, as tf.js counts them. */
function layerParams(layer: LayerSpec, input: number[]): number {
  const channels = input[input.length - 1]!;
  switch (layer.type) {
    case 'conv2d': {
      const [kh, kw] = pair(layer.kernelSize);
      return kh * kw * channels * layer.filters + (layer.useBias ? layer.filters : 0);
    }
    case 'depthwiseConv2d': {
      const [kh, kw] = pair(layer.kernelSize);
      const out = channels * layer.depthMultiplier;
      return kh * kw * out + (layer.useBias ? out : 0);
    }
    case 'dense':
      return channels * layer.units + (layer.useBias ? layer.units : 0);
    case 'batchNormalization':
      // gamma and beta are trained; the moving mean and variance are not, but tf.js counts them.
      return 4 * channels;
    default:
      return 0;
  }
}

/** Total parameter count of a network (what tf.js `model.countParams()` reports). Throws on shape issues. */
export function countParams(layers: LayerSpec[], inputShape: readonly number[]): number {
  const { shapes, issues } = walkShapes(layers, inputShape);
  if (issues.length > 0) {
    throw new KdqError('E_CONFIG', `cannot count parameters: ${issues.map((i) => i.message).join('; ')}`);
  }
  let total = 0;
  let input = [...inputShape];
  layers.forEach((layer, i) => {
    total += layerParams(layer, input);
    input = shapes[i]!;
  });
  return total;
}
