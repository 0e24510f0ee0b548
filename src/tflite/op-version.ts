/**
 * Operator versions: the kernel variant a runtime must provide, chosen from the tensor types and
 * options the way the converter does (tensorflow/lite/tools/versioning/op_version.cc and
 * op_signature.cc), and the oldest TFLite release with each (op, version) (runtime_version.cc),
 * written as the `min_runtime_version` metadata.
 *
 * The version is what stops a runtime too old for a kernel: it refuses the file ("Didn't find op
 * for builtin opcode 'FULLY_CONNECTED' version '12'") instead of running another kernel on the
 * same bytes. Writing a version lower than the converter's is therefore not harmless: a per-channel
 * hybrid FULLY_CONNECTED written as v3 ran in @tensorflow/tfjs-tflite with the per-tensor kernel
 * and scored 10% where LiteRT.js scored 100% (test/tflite/op-version.test.ts).
 */
import { KdqError } from '../errors.ts';
import type { TensorTypeName } from './schema.ts';

export interface OpSignature {
  /** Type of the first (activation) input. */
  input: TensorTypeName;
  /** Type of the weights, when the op has any. */
  weight?: TensorTypeName;
  output?: TensorTypeName;
  /** Weights quantized per channel, as the converter counts it: see `isPerChannel`. */
  perChannel?: boolean;
  hasBias?: boolean;
  /** Dilation factor above 1 in any direction. */
  dilated?: boolean;
  /** FULLY_CONNECTED `keep_num_dims`. */
  keepNumDims?: boolean;
  /** FULLY_CONNECTED hybrid kernels that quantize their input asymmetrically. */
  asymmetricQuantizeInputs?: boolean;
  /** Quantized MUL: input scale times the other input's scale over the output scale. */
  rescale?: number;
}

/**
 * Whether the converter counts an op's int8 weights as per-channel (op_signature.cc): CONV_2D when
 * there is one scale per output channel (dimension 0), DEPTHWISE_CONV_2D per channel of dimension
 * 3, FULLY_CONNECTED when there is more than one scale and one per output row (dimension 0).
 */
export function isPerChannel(op: string, weightShape: readonly number[], scales: number): boolean {
  switch (op) {
    case 'CONV_2D':
      return scales > 0 && scales === weightShape[0];
    case 'DEPTHWISE_CONV_2D':
      return scales > 0 && scales === weightShape[3];
    case 'FULLY_CONNECTED':
      return scales > 1 && scales === weightShape[0];
    default:
      return false;
  }
}

/** The version to write for an op with the given signature. */
export function opVersion(op: string, sig: OpSignature): number {
  const int8 = sig.input === 'INT8';
  // Hybrid: float activations, int8 weights (dynamic-range quantization).
  const hybrid = sig.input === 'FLOAT32' && sig.weight === 'INT8';
  switch (op) {
    case 'CONV_2D':
      if (int8) return 3;
      if (hybrid) return sig.perChannel ? 5 : 2;
      return 1;
    case 'DEPTHWISE_CONV_2D':
      if (hybrid) return sig.perChannel ? 6 : 4;
      if (int8) return 3;
      return sig.dilated ? 2 : 1;
    case 'FULLY_CONNECTED':
      // The converter's order: the per-channel hybrid kernel first, then the missing bias.
      if (hybrid && sig.perChannel) return 12;
      if (sig.hasBias === false) return 6;
      if (sig.keepNumDims) return 5;
      if (int8) return 4;
      if (hybrid) return sig.asymmetricQuantizeInputs ? 9 : 3;
      return 1;
    case 'MAX_POOL_2D':
    case 'AVERAGE_POOL_2D':
    case 'MEAN':
    case 'SOFTMAX':
    case 'TANH':
    case 'LOGISTIC':
    case 'RELU':
    case 'RELU6':
    case 'ADD':
    case 'CONCATENATION':
      return int8 ? 2 : 1;
    case 'MUL':
      // The kernel that scales up (input scales over output scale at least 1) came later.
      if (sig.rescale !== undefined && sig.rescale >= 1) return 3;
      return int8 ? 2 : 1;
    case 'RESHAPE':
    case 'QUANTIZE':
      return 1;
    case 'DEQUANTIZE':
      return sig.input === 'INT8' ? 2 : sig.input === 'FLOAT16' ? 3 : 1;
    default:
      throw new KdqError('E_INTERNAL', `no operator version rule for ${op}`);
  }
}

/**
 * Oldest TFLite release that runs each (op, version) kdq writes: runtime_version.cc's table, for
 * every version `opVersion` can return (a test checks that none is missing).
 */
export const MIN_RUNTIME: Readonly<Record<string, string>> = {
  'CONV_2D/1': '1.5.0',
  'CONV_2D/2': '1.14.0',
  'CONV_2D/3': '1.14.0',
  'CONV_2D/5': '2.4.0',
  'DEPTHWISE_CONV_2D/1': '1.5.0',
  'DEPTHWISE_CONV_2D/2': '1.12.0',
  'DEPTHWISE_CONV_2D/3': '1.14.0',
  'DEPTHWISE_CONV_2D/4': '2.2.0',
  'DEPTHWISE_CONV_2D/6': '2.3.0',
  'FULLY_CONNECTED/1': '1.5.0',
  'FULLY_CONNECTED/3': '1.14.0',
  'FULLY_CONNECTED/4': '1.14.0',
  'FULLY_CONNECTED/5': '2.0.0',
  'FULLY_CONNECTED/6': '2.1.0',
  'FULLY_CONNECTED/9': '2.3.0',
  'FULLY_CONNECTED/12': '2.17.0',
  'MAX_POOL_2D/1': '1.5.0',
  'MAX_POOL_2D/2': '1.14.0',
  'AVERAGE_POOL_2D/1': '1.5.0',
  'AVERAGE_POOL_2D/2': '1.14.0',
  'MEAN/1': '1.6.0',
  'MEAN/2': '1.14.0',
  'SOFTMAX/1': '1.5.0',
  'SOFTMAX/2': '1.14.0',
  'TANH/1': '1.14.0',
  'TANH/2': '1.14.0',
  'LOGISTIC/1': '1.14.0',
  'LOGISTIC/2': '1.14.0',
  'RELU/1': '1.5.0',
  'RELU/2': '2.1.0',
  'RELU6/1': '1.5.0',
  'RELU6/2': '1.14.0',
  'RESHAPE/1': '1.5.0',
  'ADD/1': '1.5.0',
  'ADD/2': '1.14.0',
  'CONCATENATION/1': '1.5.0',
  'CONCATENATION/2': '1.14.0',
  'MUL/1': '1.5.0',
  'MUL/2': '1.14.0',
  'MUL/3': '1.15.0',
  'QUANTIZE/1': '1.14.0',
  'DEQUANTIZE/1': '1.13.1',
  'DEQUANTIZE/2': '1.14.0',
  'DEQUANTIZE/3': '1.15.0',
};

function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pa[i] - pb[i];
  return 0;
}

/** The newest of the minimum runtimes of the given ops, as the 16-byte zero-padded metadata value. */
export function minRuntimeVersion(ops: { op: string; version: number }[]): Uint8Array {
  let v = '1.5.0';
  for (const o of ops) {
    const need = MIN_RUNTIME[`${o.op}/${o.version}`];
    if (need === undefined) throw new KdqError('E_INTERNAL', `no minimum runtime version for ${o.op} v${o.version}; add it from runtime_version.cc`);
    if (compareVersions(need, v) > 0) v = need;
  }
  const out = new Uint8Array(16);
  out.set(new TextEncoder().encode(v));
  return out;
}
