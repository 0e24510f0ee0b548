/**
 * A .tflite file as plain data: what the writer takes and the reader gives back. One subgraph,
 * tensors addressed by index, constant data as raw little-endian bytes. Names of ops, types and
 * enum values are the schema's own (see schema.ts), so an inspection reads like the file.
 */
import type { ActivationFunctionTypeName, PaddingName, TensorTypeName } from './schema.ts';

/** Affine quantization: real = scale * (q - zeroPoint), per tensor or along one axis. */
export interface TfliteQuantization {
  scale: number[];
  zeroPoint: number[];
  /** The axis the scales run along (0 when per tensor). */
  quantizedDimension: number;
  /** Calibrated float range, informational (the converter writes it for activations). */
  min?: number[];
  max?: number[];
}

export interface TfliteTensor {
  name: string;
  shape: number[];
  type: TensorTypeName;
  /** Constant data (little-endian); absent for activations, which point at the empty buffer 0. */
  buffer?: Uint8Array;
  quantization?: TfliteQuantization;
}

export type TfliteOptions =
  | {
      type: 'Conv2DOptions';
      padding: PaddingName;
      strideW: number;
      strideH: number;
      activation: ActivationFunctionTypeName;
      dilationW: number;
      dilationH: number;
    }
  | {
      type: 'DepthwiseConv2DOptions';
      padding: PaddingName;
      strideW: number;
      strideH: number;
      depthMultiplier: number;
      activation: ActivationFunctionTypeName;
      dilationW: number;
      dilationH: number;
    }
  | {
      type: 'Pool2DOptions';
      padding: PaddingName;
      strideW: number;
      strideH: number;
      filterWidth: number;
      filterHeight: number;
      activation: ActivationFunctionTypeName;
    }
  | {
      type: 'FullyConnectedOptions';
      activation: ActivationFunctionTypeName;
      keepNumDims: boolean;
      asymmetricQuantizeInputs: boolean;
    }
  | { type: 'SoftmaxOptions'; beta: number }
  | { type: 'AddOptions'; activation: ActivationFunctionTypeName }
  | { type: 'MulOptions'; activation: ActivationFunctionTypeName }
  /** `axis` may be negative (counted from the end). */
  | { type: 'ConcatenationOptions'; axis: number; activation: ActivationFunctionTypeName }
  | { type: 'ReducerOptions'; keepDims: boolean }
  | { type: 'QuantizeOptions' }
  | { type: 'DequantizeOptions' }
  /** Read from a file but not decoded by kdq (`name` is the union member's index or name). */
  | { type: 'Other'; name: string };

export interface TfliteOperator {
  /** BuiltinOperator name, e.g. `CONV_2D` (`UNKNOWN(n)` when read from a file with ops kdq does not list). */
  op: string;
  /** Operator version: which kernel variant a runtime must have (see op-version.ts). */
  version: number;
  inputs: number[];
  outputs: number[];
  options?: TfliteOptions;
}

/** A named signature (`serving_default`), mapping signature names to tensor indices. */
export interface TfliteSignature {
  key: string;
  inputs: { name: string; tensor: number }[];
  outputs: { name: string; tensor: number }[];
}

export interface TfliteModel {
  description: string;
  /** Name of the one subgraph ("main" in converter output). */
  subgraphName: string;
  tensors: TfliteTensor[];
  operators: TfliteOperator[];
  inputs: number[];
  outputs: number[];
  /** Model metadata entries, name -> buffer bytes (e.g. `min_runtime_version`). */
  metadata: Record<string, Uint8Array>;
  signatures: TfliteSignature[];
}
