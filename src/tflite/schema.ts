/**
 * The numbers of the TFLite flatbuffer schema (tensorflow/compiler/mlir/lite/schema/schema.fbs)
 * that kdq writes and reads: enum values, union indices and table slots. The writer, the reader
 * and the inspector all take their numbers from here, so a slot cannot drift between them.
 *
 * A table's slot is the field's position in the schema (deprecated fields keep their slot; a union
 * field takes two: its `_type` byte, then the value). The byte offset of slot s in a vtable is
 * 4 + 2 * s.
 */

/** `BuiltinOperator` codes of the ops kdq emits. */
export const BuiltinOperator = {
  ADD: 0,
  AVERAGE_POOL_2D: 1,
  CONV_2D: 3,
  DEPTHWISE_CONV_2D: 4,
  DEQUANTIZE: 6,
  FULLY_CONNECTED: 9,
  LOGISTIC: 14,
  MAX_POOL_2D: 17,
  RELU: 19,
  RELU6: 21,
  RESHAPE: 22,
  SOFTMAX: 25,
  TANH: 28,
  MEAN: 40,
  QUANTIZE: 114,
} as const;
export type BuiltinOperatorName = keyof typeof BuiltinOperator;

/** `TensorType`. */
export const TensorType = {
  FLOAT32: 0,
  FLOAT16: 1,
  INT32: 2,
  UINT8: 3,
  INT64: 4,
  STRING: 5,
  BOOL: 6,
  INT16: 7,
  COMPLEX64: 8,
  INT8: 9,
  FLOAT64: 10,
} as const;
export type TensorTypeName = keyof typeof TensorType;

/** Bytes per element of each tensor type kdq knows. */
export const TENSOR_TYPE_BYTES: Record<TensorTypeName, number> = {
  FLOAT32: 4,
  FLOAT16: 2,
  INT32: 4,
  UINT8: 1,
  INT64: 8,
  STRING: 1,
  BOOL: 1,
  INT16: 2,
  COMPLEX64: 8,
  INT8: 1,
  FLOAT64: 8,
};

/** `BuiltinOptions` union member indices (0 = NONE). */
export const BuiltinOptions = {
  NONE: 0,
  Conv2DOptions: 1,
  DepthwiseConv2DOptions: 2,
  Pool2DOptions: 5,
  FullyConnectedOptions: 8,
  SoftmaxOptions: 9,
  ReshapeOptions: 17,
  ReducerOptions: 27,
  DequantizeOptions: 38,
  QuantizeOptions: 89,
} as const;
export type BuiltinOptionsName = keyof typeof BuiltinOptions;

/** `Padding`. */
export const Padding = { SAME: 0, VALID: 1 } as const;
export type PaddingName = keyof typeof Padding;

/** `ActivationFunctionType`. */
export const ActivationFunctionType = { NONE: 0, RELU: 1, RELU_N1_TO_1: 2, RELU6: 3, TANH: 4, SIGN_BIT: 5 } as const;
export type ActivationFunctionTypeName = keyof typeof ActivationFunctionType;

/** Table slots (field positions) per table. */
export const Slot = {
  Model: {
    version: 0,
    operator_codes: 1,
    subgraphs: 2,
    description: 3,
    buffers: 4,
    metadata_buffer: 5,
    metadata: 6,
    signature_defs: 7,
  },
  OperatorCode: { deprecated_builtin_code: 0, custom_code: 1, version: 2, builtin_code: 3 },
  SubGraph: { tensors: 0, inputs: 1, outputs: 2, operators: 3, name: 4 },
  Tensor: { shape: 0, type: 1, buffer: 2, name: 3, quantization: 4, is_variable: 5, sparsity: 6, shape_signature: 7 },
  QuantizationParameters: { min: 0, max: 1, scale: 2, zero_point: 3, details_type: 4, details: 5, quantized_dimension: 6 },
  Operator: { opcode_index: 0, inputs: 1, outputs: 2, builtin_options_type: 3, builtin_options: 4 },
  Buffer: { data: 0, offset: 1, size: 2 },
  Metadata: { name: 0, buffer: 1 },
  TensorMap: { name: 0, tensor_index: 1 },
  SignatureDef: { inputs: 0, outputs: 1, signature_key: 2, deprecated_tag: 3, subgraph_index: 4 },
  Conv2DOptions: {
    padding: 0,
    stride_w: 1,
    stride_h: 2,
    fused_activation_function: 3,
    dilation_w_factor: 4,
    dilation_h_factor: 5,
  },
  DepthwiseConv2DOptions: {
    padding: 0,
    stride_w: 1,
    stride_h: 2,
    depth_multiplier: 3,
    fused_activation_function: 4,
    dilation_w_factor: 5,
    dilation_h_factor: 6,
  },
  Pool2DOptions: { padding: 0, stride_w: 1, stride_h: 2, filter_width: 3, filter_height: 4, fused_activation_function: 5 },
  FullyConnectedOptions: { fused_activation_function: 0, weights_format: 1, keep_num_dims: 2, asymmetric_quantize_inputs: 3 },
  SoftmaxOptions: { beta: 0 },
  ReducerOptions: { keep_dims: 0 },
} as const;

/** The vtable byte offset of a slot, as flatbuffers' Builder.addField* and readers expect. */
export function slotOffset(slot: number): number {
  return 4 + 2 * slot;
}

/** Name of an enum value, or `UNKNOWN(n)` for a value kdq does not list. */
export function enumName<T extends Record<string, number>>(table: T, value: number): string {
  for (const [k, v] of Object.entries(table)) if (v === value) return k;
  return `UNKNOWN(${value})`;
}
