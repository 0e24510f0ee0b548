/** Checks and copies between JS typed arrays and a runtime's WASM tensor memory. */
import { KdqError } from '../../errors.ts';
import type { RuntimeName, TensorData, TensorDtype, TensorInfo } from './types.ts';

const ARRAY_BY_DTYPE = {
  float32: Float32Array,
  int8: Int8Array,
  uint8: Uint8Array,
} as const;

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((n, d) => n * Math.max(d, 1), 1);
}

export function bytesPerElement(dtype: TensorDtype): number {
  return dtype === 'float32' || dtype === 'int32' ? 4 : 1;
}

/**
 * Refuses, at load time, tensors that `run` could not take or return: the interface speaks
 * Float32Array, Int8Array and Uint8Array only.
 */
export function checkRunnable(t: TensorInfo, role: 'input' | 'output', runtime: RuntimeName): void {
  if (t.dtype === 'int32') {
    throw new KdqError(
      'E_TFLITE',
      `${runtime}: ${role} "${t.name}" is int32; kdq runs classifiers with float32, int8 or uint8 ${role}s: ` +
        'export with inference input/output type float32, int8 or uint8',
    );
  }
}

/** Throws unless `input` has the typed array class and length of tensor `t`. */
export function checkInput(input: TensorData, t: TensorInfo, runtime: RuntimeName): void {
  const want = ARRAY_BY_DTYPE[t.dtype as keyof typeof ARRAY_BY_DTYPE];
  if (!(input instanceof want)) {
    throw new KdqError(
      'E_TFLITE',
      `${runtime}: input "${t.name}" is ${t.dtype} but run() got a ${input.constructor.name}; pass a ${want.name}` +
        (t.dtype === 'float32' ? '' : ' (quantize with the input scale and zero point, or use evaluateTflite)'),
    );
  }
  const n = elementCount(t.shape);
  if (input.length !== n) {
    throw new KdqError(
      'E_TFLITE',
      `${runtime}: input "${t.name}" has shape [${t.shape.join(', ')}] (${n} values) but run() got ${input.length} values; ` +
        'run() takes one example (batch 1)',
    );
  }
}

/** A fresh typed array of `t`'s type holding a copy of `bytes`. */
export function copyOut(bytes: Uint8Array, t: TensorInfo): TensorData {
  const Ctor = ARRAY_BY_DTYPE[t.dtype as keyof typeof ARRAY_BY_DTYPE];
  const copy = bytes.slice();
  return new Ctor(copy.buffer, 0, copy.byteLength / Ctor.BYTES_PER_ELEMENT);
}

/** The raw bytes of a typed array (a view, no copy). */
export function bytesOf(data: TensorData): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}
