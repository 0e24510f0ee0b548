/**
 * A teacher trained elsewhere, opened from its file(s): the one interface the ONNX, TF.js and
 * .tflite formats share, so the stages that compute soft labels and evaluate the teacher do not
 * care where it came from.
 */
import type * as tf from '@tensorflow/tfjs';
import type { TeacherFormat, TeacherInputLayout, TeacherOutput } from '../names.ts';

export type { TeacherFormat, TeacherInputLayout, TeacherOutput };

/** What the model's output is, after `output: auto` was resolved. */
export type TeacherOutputKind = 'logits' | 'probabilities';

/** The data the teacher must fit, checked when it is opened. */
export interface TeacherDataShape {
  /** [height, width, channels] of one image, as kdq's datasets hold them (NHWC). */
  imageShape: [number, number, number];
  classes: number;
}

export interface TeacherOptions {
  /** The data the teacher will see; its shape and class count are checked before any use. */
  data: TeacherDataShape;
  /**
   * How the model's input is laid out: `nchw` (PyTorch) or `nhwc` (TensorFlow, TF.js, TFLite).
   * Default: `nchw` for ONNX, `nhwc` for TF.js and .tflite.
   */
  inputLayout?: TeacherInputLayout;
  /**
   * `logits`, `probabilities` (the model ends in softmax: kdq takes their natural log), or `auto`
   * (default): probabilities when the graph ends in a softmax, logits otherwise.
   */
  output?: TeacherOutput;
  /** The teacher's own preprocessing: it sees `(pixel * scale - mean) / std`, pixel in [0, 1]. Default 1. */
  scale?: number;
  /** One value, or one per channel. Default 0. */
  mean?: number | number[];
  /** One value, or one per channel. Default 1. */
  std?: number | number[];
  /** Images per runtime call (default 256; a model with a fixed batch runs its own batch size). */
  batchSize?: number;
  /**
   * ONNX: threads of ONNX Runtime's operators (default 1; on this shared 2-core machine 2 threads
   * were slower). Does not change the outputs. TF.js and .tflite teachers ignore it.
   */
  threads?: number;
}

/** Settings after defaults: part of the teacher's cache key. */
export interface TeacherSettings {
  inputLayout: TeacherInputLayout;
  output: TeacherOutput;
  scale: number;
  /** Per channel. */
  mean: number[];
  /** Per channel. */
  std: number[];
}

/** One file the teacher reads. */
export interface TeacherFile {
  /** As opened (absolute). */
  path: string;
  /** Relative to the folder of the model file: `model.json`, `group1-shard1of2.bin`. */
  name: string;
  bytes: number;
  sha256: string;
}

/** Called after each batch with the images done so far and the total. */
export type TeacherProgress = (done: number, total: number) => void;

export interface Teacher {
  format: TeacherFormat;
  /** Every file the teacher reads, the model file first, with its sha256 (for the cache key). */
  files: TeacherFile[];
  settings: TeacherSettings;
  /** [height, width, channels] as kdq's NHWC images are; equal to the data's. */
  inputShape: [number, number, number];
  classes: number;
  /** Trainable parameters when the format says (ONNX and .tflite: elements of the weight constants). */
  params?: number;
  /** What the model outputs; `logits()` returns log-probabilities for `probabilities`. */
  outputKind: TeacherOutputKind;
  /** Why outputKind is what it is, for the report (e.g. `the graph ends in Softmax node "Softmax_7"`). */
  outputKindReason: string;
  /** e.g. `onnxruntime-node 1.31.1`, `@tensorflow/tfjs 4.22.0`, `@litertjs/core 2.5.3`. */
  runtime: string;
  /**
   * Logits of `n` images (NHWC, pixels in [0, 1], as kdq's datasets hold them), [n, classes] row-major.
   * For a teacher that outputs probabilities these are log-probabilities: softmax(logp / T) equals
   * softmax(t / T) of the true logits t at every temperature, so KD's soft targets are unchanged.
   */
  logits(images: Float32Array, n: number, onProgress?: TeacherProgress): Promise<Float32Array>;
  /** Frees the runtime's memory; idempotent. */
  close(): void;
}

/** A TF.js teacher also exposes its model, so that it can be fine-tuned. */
export interface TfjsTeacher extends Teacher {
  format: 'tfjs-layers';
  model: tf.LayersModel;
}
