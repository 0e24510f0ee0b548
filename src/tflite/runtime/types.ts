/**
 * The shape of a loaded .tflite file, the same whichever TFLite runtime runs it, so evaluation and
 * tests can run one file in both runtimes and compare.
 */
import { TFLITE_RUNTIMES, type TfliteRuntime } from '../../names.ts';

/**
 * `litert`: LiteRT.js (@litertjs/core), Google's current WASM runtime (CompiledModel API).
 * `tfjs-tflite`: @tensorflow/tfjs-tflite, the classic TFLite interpreter compiled to WASM.
 */
export type RuntimeName = TfliteRuntime;
export const RUNTIMES: readonly RuntimeName[] = TFLITE_RUNTIMES;

export type TensorDtype = 'float32' | 'int8' | 'uint8' | 'int32';

/** Per-tensor affine quantization: `real = scale * (q - zeroPoint)`. */
export interface TensorQuantization {
  scale: number;
  zeroPoint: number;
}

export interface TensorInfo {
  /** Tensor name as written in the file (subgraph 0). */
  name: string;
  /** Static shape from the file; a dynamic batch (-1 in shape_signature) is run as batch 1. */
  shape: number[];
  dtype: TensorDtype;
  /** Present for int8/uint8 tensors with one scale and zero point. */
  quantization?: TensorQuantization;
}

export type TensorData = Float32Array | Int8Array | Uint8Array;

export interface TfliteInterpreter {
  runtime: RuntimeName;
  inputs: TensorInfo[];
  outputs: TensorInfo[];
  /** Runs one input (batch 1) and returns a copy of output 0. */
  run(input: TensorData): TensorData;
  /** Frees the model's WASM memory; idempotent. `run` after `close` throws E_TFLITE. */
  close(): void;
}
