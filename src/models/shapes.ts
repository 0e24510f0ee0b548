/**
 * Output shapes and parameter counts of a layer list, computed without tf.js so that the config
 * loader can reject a network that cannot be built (a kernel larger than its input, a dense layer
 * on an image) with the line of the offending layer, before any training starts.
 * Shapes have no batch dimension: an image is [h, w, c], a vector (a table row) [n]. Layers that branch and join
 * (`inputs`, `add`, `concatenate`) are followed through their wiring (wiring.ts).
 */
import type { LayerSpec } from '../config/types.ts';
import { KdqError } from '../errors.ts';
import { MERGE_LAYER_TYPES } from '../names.ts';
import { INPUT, layerLabel, resolveWiring } from './wiring.ts';

/** MNIST and Fashion-MNIST images. */
export const MNIST_INPUT_SHAPE: readonly number[] = [28, 28, 1];
export const MNIST_CLASSES = 10;

/**
 * The one message for a network whose output is not one logit per class: `kdq validate` places it
 * at the last layer, and training says the same if it ever gets that far.
 */
export function classesMessage(numClasses: number, output: readonly (number | null)[]): string {
  return (
    `the network must end in ${numClasses} logits, one per class of the data (shape [${numClasses}]), ` +
    `but outputs [${output.map((d) => d ?? 'batch').join(', ')}]; end with { type: dense, units: ${numClasses} }`
  );
}

/** Why an image layer cannot take table rows. */
function tabular(type: string): string {
  return `the data is table rows (input [features]), not images: ${type} needs [height, width, channels]; use dense layers (with dropout, batchNormalization, activation)`;
}

/**
 * A layer that cannot be built: `key` is the layer argument to change (`type` for the layer
 * itself), `item` the position in `inputs` when one name is wrong.
 */
export interface ShapeIssue {
  index: number;
  key: string;
  item?: number;
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

const dimsOf = (shape: readonly number[]): string => `[${shape.join(', ')}]`;

/** What would make two image shapes addable: a strided 1x1 conv on the larger one, when that fits. */
function addFix(bigLabel: string, big: number[], small: number[]): string {
  const [bh, bw] = big;
  const [sh, sw, sc] = small;
  if (big.length === 3 && small.length === 3 && bh! % sh! === 0 && bw! % sw! === 0 && bh! / sh! === bw! / sw!) {
    const stride = bh! / sh!;
    return `give ${bigLabel} a shortcut { type: conv2d, filters: ${sc}, kernelSize: 1${stride > 1 ? `, strides: ${stride}` : ''} } and add that instead`;
  }
  return 'make the branches end in the same shape (e.g. a 1x1 conv2d with matching filters and strides on the shortcut)';
}

/** A layer's output shape, or what is wrong with it (`key`: the layer argument to change). */
type Outcome = { shape: number[] } | { key: string; message: string };

const issueAt = (key: string, message: string): Outcome => ({ key, message });

/** The output shape of a merge layer (add, concatenate) on inputs `ins`, called `labels` in messages. */
function mergeShape(layer: LayerSpec, labels: string[], ins: number[][]): Outcome {
  const first = ins[0]!;
  if (layer.type === 'add') {
    const k = ins.findIndex((s) => dimsOf(s) !== dimsOf(first));
    if (k < 0) return { shape: [...first] };
    const other = ins[k]!;
    const [big, bigLabel, small] = (first[0] ?? 0) >= (other[0] ?? 0) ? [first, labels[0]!, other] : [other, labels[k]!, first];
    return issueAt(
      'inputs',
      `inputs ${labels[0]} ${dimsOf(first)} and ${labels[k]} ${dimsOf(other)} differ in shape; add sums element by element and needs equal shapes: ${addFix(bigLabel, big, small)}`,
    );
  }
  // concatenate: along the last axis, every other dimension equal.
  const k = ins.findIndex((s) => s.length !== first.length || dimsOf(s.slice(0, -1)) !== dimsOf(first.slice(0, -1)));
  if (k >= 0) {
    const other = ins[k]!;
    const fix =
      first.length === 3 && other.length === 3
        ? 'give both branches the same strides and padding'
        : 'join images with images and flat vectors with flat vectors';
    return issueAt(
      'inputs',
      `inputs ${labels[0]} ${dimsOf(first)} and ${labels[k]} ${dimsOf(other)} cannot be joined: concatenate stacks channels (the last axis) and needs every other dimension equal; ${fix}`,
    );
  }
  return { shape: [...first.slice(0, -1), ins.reduce((n, s) => n + s[s.length - 1]!, 0)] };
}

/**
 * The output shape of a one-input layer on an input of `shape`. `rows`: the data is table rows
 * (the network's input is [F]); `fromInput`: this layer reads the network's input.
 */
function layerShape(layer: LayerSpec, shape: number[], rows: boolean, fromInput: boolean): Outcome {
  const dims = dimsOf(shape);
  switch (layer.type) {
    case 'conv2d':
    case 'depthwiseConv2d':
    case 'maxPooling2d':
    case 'averagePooling2d': {
      if (shape.length !== 3) {
        return issueAt(
          'type',
          rows ? tabular(layer.type) : `needs an image input [height, width, channels] but gets ${dims}; move it before the flatten or dense layers`,
        );
      }
      const isPool = layer.type === 'maxPooling2d' || layer.type === 'averagePooling2d';
      const windowKey = isPool ? 'poolSize' : 'kernelSize';
      const window = 'poolSize' in layer ? layer.poolSize : layer.kernelSize;
      const [kh, kw] = pair(window);
      const [sh, sw] = pair(layer.strides ?? window);
      const [h, w, c] = shape as [number, number, number];
      if (layer.padding === 'valid' && (kh > h || kw > w)) {
        return issueAt(
          windowKey,
          `window ${kh}x${kw} is larger than its input ${h}x${w}; use a smaller ${windowKey}, padding 'same', or fewer layers before it`,
        );
      }
      const out: number[] = [convOutputLength(h, kh, sh, layer.padding), convOutputLength(w, kw, sw, layer.padding)];
      const channels = layer.type === 'conv2d' ? layer.filters : layer.type === 'depthwiseConv2d' ? c * layer.depthMultiplier : c;
      return { shape: [...out, channels] };
    }
    case 'globalAveragePooling2d':
      if (shape.length !== 3)
        return issueAt('type', rows ? tabular(layer.type) : `averages over height and width but gets ${dims}; use it on an image, before any flatten`);
      return { shape: [shape[2]!] };
    case 'flatten':
      if (shape.length < 2)
        return issueAt(
          'type',
          rows && fromInput ? `the data is table rows ${dims}, already flat; remove this flatten` : `input ${dims} is already flat; remove this flatten`,
        );
      return { shape: [shape.reduce((a, b) => a * b, 1)] };
    case 'dense':
      if (shape.length !== 1) return issueAt('type', `needs a flat input but gets ${dims}; add { type: flatten } before it`);
      return { shape: [layer.units] };
    case 'dropout':
    case 'batchNormalization':
    case 'activation':
    case 'add':
    case 'concatenate':
      return { shape: [...shape] };
  }
}

/** Shapes and per-layer issues (wiring and shapes), without the check of the final output. */
function walkShapes(layers: LayerSpec[], inputShape: readonly number[]): ShapeResult & { sources: number[][] } {
  const { sources, issues: wiringIssues } = resolveWiring(layers);
  const shapes: number[][] = [];
  const issues: ShapeIssue[] = [...wiringIssues];
  let shape = [...inputShape];
  let stopped = false;
  layers.forEach((layer, index) => {
    const src = sources[index]!;
    // After the first broken layer every later shape is a guess; stop rather than cascade.
    if (stopped || src.length === 0) {
      stopped = true;
      shapes.push([...shape]);
      return;
    }
    const ins = src.map((s) => (s === INPUT ? [...inputShape] : shapes[s]!));
    const out = MERGE_LAYER_TYPES.some((t) => t === layer.type)
      ? mergeShape(
          layer,
          src.map((s) => layerLabel(layers, s)),
          ins,
        )
      : layerShape(layer, ins[0]!, inputShape.length === 1, src[0] === INPUT);
    if ('message' in out) {
      issues.push({ index, key: out.key, message: `layer ${index} (${layer.type}): ${out.message}` });
      stopped = true;
      shapes.push([...shape]);
      return;
    }
    shape = out.shape;
    shapes.push([...shape]);
  });
  return { shapes, issues, sources };
}

/**
 * Output shape of every layer for an input of `inputShape` ([h, w, c] for images, [f] for table
 * rows), and every reason the list cannot be built, including a final output that is not
 * [numClasses] logits (reported at the last layer's `units` when it is a dense layer).
 */
export function inferShapes(layers: LayerSpec[], inputShape: readonly number[], numClasses: number): ShapeResult {
  const { shapes, issues } = walkShapes(layers, inputShape);
  const shape = shapes[shapes.length - 1] ?? [...inputShape];
  if (layers.length > 0 && issues.length === 0 && (shape.length !== 1 || shape[0] !== numClasses)) {
    const last = layers.length - 1;
    const layer = layers[last]!;
    issues.push({
      index: last,
      key: layer.type === 'dense' && shape.length === 1 ? 'units' : 'type',
      message: `layer ${last} (${layer.type}): ${classesMessage(numClasses, shape)}`,
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
  const { shapes, issues, sources } = walkShapes(layers, inputShape);
  if (issues.length > 0) {
    throw new KdqError('E_CONFIG', `cannot count parameters: ${issues.map((i) => i.message).join('; ')}`);
  }
  return layers.reduce((total, layer, i) => {
    const from = sources[i]![0]!;
    return total + layerParams(layer, from === INPUT ? [...inputShape] : shapes[from]!);
  }, 0);
}
