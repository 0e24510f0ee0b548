/**
 * Operator versions: the kernel variant a runtime must provide, chosen from the tensor types the
 * way the converter does (NOTES.md table, op_version.cc), and the oldest TFLite release with each
 * (op, version), for the informational `min_runtime_version` metadata.
 */
import { KdqError } from '../errors.ts';
import type { TensorTypeName } from './schema.ts';

export interface OpSignature {
  /** Type of the first (activation) input. */
  input: TensorTypeName;
  /** Type of the weights, when the op has any. */
  weight?: TensorTypeName;
  output?: TensorTypeName;
  /** Weights quantized along an axis (more than one scale). */
  perChannel?: boolean;
  hasBias?: boolean;
  /** Dilation factor above 1 in any direction. */
  dilated?: boolean;
}

/** The version to write for an op with the given signature. */
export function opVersion(op: string, sig: OpSignature): number {
  const int8 = sig.input === 'INT8';
  const hybrid = sig.input === 'FLOAT32' && sig.weight === 'INT8';
  switch (op) {
    case 'CONV_2D':
      return int8 ? 3 : hybrid ? (sig.perChannel ? 5 : 2) : 1;
    case 'DEPTHWISE_CONV_2D':
      return int8 ? 3 : hybrid ? 6 : sig.dilated ? 2 : 1;
    case 'FULLY_CONNECTED':
      if (int8) return sig.hasBias === false ? 6 : 4;
      return hybrid ? 3 : 1;
    case 'MAX_POOL_2D':
    case 'AVERAGE_POOL_2D':
    case 'MEAN':
    case 'SOFTMAX':
    case 'TANH':
    case 'LOGISTIC':
    case 'RELU':
    case 'RELU6':
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

/** Oldest TFLite release that runs each (op, version) kdq writes (from the converter's runtime_version table). */
const MIN_RUNTIME: Record<string, string> = {
  'CONV_2D/1': '1.5.0',
  'CONV_2D/2': '1.14.0',
  'CONV_2D/3': '1.14.0',
  'CONV_2D/5': '2.4.0',
  'DEPTHWISE_CONV_2D/1': '1.5.0',
  'DEPTHWISE_CONV_2D/2': '1.12.0',
  'DEPTHWISE_CONV_2D/3': '1.14.0',
  'DEPTHWISE_CONV_2D/6': '2.3.0',
  'FULLY_CONNECTED/1': '1.5.0',
  'FULLY_CONNECTED/3': '1.14.0',
  'FULLY_CONNECTED/4': '1.14.0',
  'FULLY_CONNECTED/6': '2.1.0',
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
  'LOGISTIC/1': '1.5.0',
  'LOGISTIC/2': '1.14.0',
  'RELU/1': '1.5.0',
  'RELU/2': '2.1.0',
  'RELU6/1': '1.5.0',
  'RELU6/2': '2.1.0',
  'RESHAPE/1': '1.5.0',
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
    const need = MIN_RUNTIME[`${o.op}/${o.version}`] ?? '1.5.0';
    if (compareVersions(need, v) > 0) v = need;
  }
  const out = new Uint8Array(16);
  out.set(new TextEncoder().encode(v));
  return out;
}
