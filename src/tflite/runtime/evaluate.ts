/** Top-1 accuracy, agreement and latency of a .tflite classifier, measured in a TFLite runtime. */
import { KdqError } from '../../errors.ts';
import { loadTflite } from './load.ts';
import { runtimeVersion } from './runtime-package.ts';
import { elementCount } from './tensor-data.ts';
import type { RuntimeName, TensorData, TensorInfo } from './types.ts';

/** Examples made on demand (src/data/model-inputs.ts): converted a block at a time, never all at once. */
export interface ExampleSource {
  range(start: number, end: number): Float32Array;
}

export interface TfliteTestSet {
  /** N examples as the model takes them, one after another (NHWC images, [N, F] rows), or made on demand. */
  images: Float32Array | ExampleSource;
  /** N class indices. */
  labels: ArrayLike<number>;
  /** Shape of one example: [height, width, channels] or [features]. */
  imageShape: readonly number[];
}

/** Examples converted per block of this many, when they come from an ExampleSource. */
const BLOCK = 256;

export interface EvaluateOptions {
  runtime: RuntimeName;
  /** Top-1 predictions of other models on the same images, keyed by model role. */
  reference?: Record<string, Uint8Array>;
  /** Keep every raw output value (`outputs`), to compare runtimes value by value. */
  keepOutputs?: boolean;
}

export interface TfliteEvaluation {
  /** Fraction of images whose argmax equals the label. */
  accuracy: number;
  /** Argmax of output 0 per image. */
  predictions: Uint8Array;
  /** Per reference key: fraction of images where this file and that model predict the same class. */
  agreement: Record<string, number>;
  /** Wall time per image of input preparation, inference and argmax (one warm-up run excluded). */
  latencyMsPerImage: number;
  runtime: RuntimeName;
  /** e.g. "@litertjs/core 2.5.3". */
  runtimeVersion: string;
  /**
   * With `keepOutputs`: output 0 of every image, one row of `classes` values after another, as the
   * file gives them (int8 and uint8 outputs not dequantized; every such value is exact in float32).
   */
  outputs?: Float32Array;
}

/** Turns one float image into the model's input array, quantizing it for int8/uint8 inputs. */
export type InputWriter = (image: Float32Array) => TensorData;

/**
 * `q = clamp(round(x / scale) + zeroPoint)` for int8/uint8 inputs, the identity for float32 ones.
 * The returned array is reused by every call.
 */
export function inputWriter(input: TensorInfo): InputWriter {
  if (input.dtype === 'float32') return (image) => image;
  const q = input.quantization;
  if (q === undefined || !(q.scale > 0)) {
    throw new KdqError(
      'E_TFLITE',
      `input "${input.name}" is ${input.dtype} but carries no single positive scale; ` + 'export the model with per-tensor input quantization',
    );
  }
  const [lo, hi] = input.dtype === 'int8' ? [-128, 127] : [0, 255];
  const buf = input.dtype === 'int8' ? new Int8Array(elementCount(input.shape)) : new Uint8Array(elementCount(input.shape));
  const inv = 1 / q.scale;
  return (image) => {
    for (let i = 0; i < image.length; i++) {
      // TFLite's QUANTIZE op rounds half away from zero (std::round); Math.round does not, and
      // floor(v + 0.5) is also several times faster in V8.
      const v = image[i]! * inv;
      const r = (v >= 0 ? Math.floor(v + 0.5) : -Math.floor(0.5 - v)) + q.zeroPoint;
      buf[i] = r < lo ? lo : r > hi ? hi : r;
    }
    return buf;
  };
}

/** Index of the largest value; the first one on ties, as tf.argMax does. */
function argmax(values: TensorData): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

function checkTestSet(data: TfliteTestSet): { n: number; pixels: number } {
  const shape = data.imageShape;
  if ((shape.length !== 3 && shape.length !== 1) || !shape.every((d) => Number.isInteger(d) && d > 0)) {
    throw new KdqError('E_TFLITE', `imageShape must be [height, width, channels] or [features] of positive integers, got [${shape.join(', ')}]`);
  }
  const n = data.labels.length;
  const pixels = shape.reduce((a, b) => a * b, 1);
  if (n === 0 || (data.images instanceof Float32Array && data.images.length !== n * pixels)) {
    const have = data.images instanceof Float32Array ? `${data.images.length} values` : 'no examples';
    throw new KdqError('E_TFLITE', `the test set has ${n} labels and ${have}; expected ${n} x ${shape.join(' x ')} = ${n * pixels}`);
  }
  return { n, pixels };
}

/** Example i as a view: of the array, or of the block the source converted last. */
function exampleReader(images: Float32Array | ExampleSource, pixels: number, n: number): (i: number) => Float32Array {
  if (images instanceof Float32Array) return (i) => images.subarray(i * pixels, (i + 1) * pixels);
  let first = -1;
  let block: Float32Array = new Float32Array(0);
  return (i) => {
    if (first < 0 || i < first || i >= first + BLOCK) {
      first = i - (i % BLOCK);
      block = images.range(first, Math.min(n, first + BLOCK));
    }
    return block.subarray((i - first) * pixels, (i - first + 1) * pixels);
  };
}

/**
 * Runs every test image through the file in `opts.runtime` (batch 1), quantizing the input when the
 * file's input is int8/uint8 with the scale and zero point written in the file, and takes the
 * argmax of output 0 (dequantizing is monotonic, so raw int8 outputs give the same argmax).
 */
export async function evaluateTflite(bytes: Uint8Array, data: TfliteTestSet, opts: EvaluateOptions): Promise<TfliteEvaluation> {
  const { n, pixels } = checkTestSet(data);
  for (const [key, ref] of Object.entries(opts.reference ?? {})) {
    if (ref.length !== n) {
      throw new KdqError('E_TFLITE', `reference "${key}" has ${ref.length} predictions for ${n} test images; pass predictions on the same test set`);
    }
  }
  const interpreter = await loadTflite(bytes, opts.runtime);
  try {
    const input = interpreter.inputs[0]!;
    const output = interpreter.outputs[0]!;
    if (elementCount(input.shape) !== pixels) {
      throw new KdqError(
        'E_TFLITE',
        `the model's input "${input.name}" has shape [${input.shape.join(', ')}] but the images are ${data.imageShape.join(' x ')}; ` +
          'evaluate on the data the model was trained for',
      );
    }
    const classes = elementCount(output.shape);
    if (classes > 256) {
      throw new KdqError('E_TFLITE', `the model's output "${output.name}" has ${classes} values; a classifier output has at most 256 classes`);
    }
    const write = inputWriter(input);
    const image = exampleReader(data.images, pixels, n);
    interpreter.run(write(image(0))); // warm-up: first-call setup is not per-image cost
    const predictions = new Uint8Array(n);
    const outputs = opts.keepOutputs ? new Float32Array(n * classes) : undefined;
    const start = performance.now();
    for (let i = 0; i < n; i++) {
      const y = interpreter.run(write(image(i)));
      predictions[i] = argmax(y);
      outputs?.set(y, i * classes);
    }
    const elapsed = performance.now() - start;
    let correct = 0;
    for (let i = 0; i < n; i++) if (predictions[i] === data.labels[i]) correct++;
    const agreement: Record<string, number> = {};
    for (const [key, ref] of Object.entries(opts.reference ?? {})) {
      let same = 0;
      for (let i = 0; i < n; i++) if (predictions[i] === ref[i]) same++;
      agreement[key] = same / n;
    }
    return {
      accuracy: correct / n,
      predictions,
      agreement,
      latencyMsPerImage: elapsed / n,
      runtime: interpreter.runtime,
      runtimeVersion: runtimeVersion(interpreter.runtime),
      ...(outputs ? { outputs } : {}),
    };
  } finally {
    interpreter.close();
  }
}
