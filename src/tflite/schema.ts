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
  CONCATENATION: 2,
  CONV_2D: 3,
  DEPTHWISE_CONV_2D: 4,
  DEQUANTIZE: 6,
  FULLY_CONNECTED: 9,
  LOGISTIC: 14,
  MAX_POOL_2D: 17,
  MUL: 18,
  RELU: 19,
  RELU6: 21,
  RESHAPE: 22,
  SOFTMAX: 25,
  TANH: 28,
  MEAN: 40,
  QUANTIZE: 114,
} as const;
export type BuiltinOperatorName = keyof typeof BuiltinOperator;

/** `TensorType`: every value of the schema, so a file with any of them reads by name. */
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
  COMPLEX128: 11,
  UINT64: 12,
  RESOURCE: 13,
  VARIANT: 14,
  UINT32: 15,
  UINT16: 16,
  INT4: 17,
  BFLOAT16: 18,
  INT2: 19,
  UINT4: 20,
  FLOAT8_E4M3FN: 21,
  FLOAT8_E5M2: 22,
} as const;
export type TensorTypeName = keyof typeof TensorType;

/**
 * Bits per element of each tensor type with a fixed size (sub-byte types are packed); absent for
 * STRING, RESOURCE and VARIANT, whose buffers have a layout of their own.
 */
export const TENSOR_TYPE_BITS: Partial<Record<TensorTypeName, number>> = {
  FLOAT32: 32,
  FLOAT16: 16,
  INT32: 32,
  UINT8: 8,
  INT64: 64,
  BOOL: 8,
  INT16: 16,
  COMPLEX64: 64,
  INT8: 8,
  FLOAT64: 64,
  COMPLEX128: 128,
  UINT64: 64,
  UINT32: 32,
  UINT16: 16,
  INT4: 4,
  BFLOAT16: 16,
  INT2: 2,
  UINT4: 4,
  FLOAT8_E4M3FN: 8,
  FLOAT8_E5M2: 8,
};

/** Bytes per element of the whole-byte tensor types kdq writes. */
export const TENSOR_TYPE_BYTES: Partial<Record<TensorTypeName, number>> = Object.fromEntries(
  Object.entries(TENSOR_TYPE_BITS)
    .filter(([, bits]) => bits % 8 === 0)
    .map(([k, bits]) => [k, bits / 8]),
);

/**
 * The largest value of each enum in the schema kdq was written against (schema.fbs of
 * tensorflow/tflite-micro 90b983c2b3f1): a larger value in a file is damage, not a newer op.
 */
export const SCHEMA_MAX = {
  BuiltinOperator: 209,
  /** `deprecated_builtin_code` stops at 127 (PLACEHOLDER_FOR_GREATER_OP_CODES). */
  DeprecatedBuiltinOperator: 127,
  BuiltinOptions: 126,
  ActivationFunctionType: 5,
  Padding: 1,
} as const;

/** `BuiltinOptions` union member indices (0 = NONE). */
export const BuiltinOptions = {
  NONE: 0,
  Conv2DOptions: 1,
  DepthwiseConv2DOptions: 2,
  Pool2DOptions: 5,
  FullyConnectedOptions: 8,
  SoftmaxOptions: 9,
  ConcatenationOptions: 10,
  AddOptions: 11,
  ReshapeOptions: 17,
  MulOptions: 21,
  ReducerOptions: 27,
  DequantizeOptions: 38,
  QuantizeOptions: 89,
} as const;
export type BuiltinOptionsName = keyof typeof BuiltinOptions;

/**
 * The options each op kdq knows carries (schema.fbs pairs them by name), and whether a file may
 * leave them out (the runtimes then use defaults, which for strides and filters mean nothing).
 * An op with options of another kind is damage: its table would be read with the wrong slots.
 */
export const OP_OPTIONS: Partial<Record<BuiltinOperatorName, { type: BuiltinOptionsName; required: boolean }>> = {
  ADD: { type: 'AddOptions', required: false },
  AVERAGE_POOL_2D: { type: 'Pool2DOptions', required: true },
  CONCATENATION: { type: 'ConcatenationOptions', required: true },
  CONV_2D: { type: 'Conv2DOptions', required: true },
  DEPTHWISE_CONV_2D: { type: 'DepthwiseConv2DOptions', required: true },
  DEQUANTIZE: { type: 'DequantizeOptions', required: false },
  FULLY_CONNECTED: { type: 'FullyConnectedOptions', required: false },
  LOGISTIC: { type: 'NONE', required: false },
  MAX_POOL_2D: { type: 'Pool2DOptions', required: true },
  MUL: { type: 'MulOptions', required: false },
  RELU: { type: 'NONE', required: false },
  RELU6: { type: 'NONE', required: false },
  RESHAPE: { type: 'ReshapeOptions', required: false },
  SOFTMAX: { type: 'SoftmaxOptions', required: true },
  TANH: { type: 'NONE', required: false },
  MEAN: { type: 'ReducerOptions', required: false },
  QUANTIZE: { type: 'QuantizeOptions', required: false },
};

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
  ConcatenationOptions: { axis: 0, fused_activation_function: 1 },
  AddOptions: { fused_activation_function: 0, pot_scale_int16: 1 },
  MulOptions: { fused_activation_function: 0 },
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
