/** Typed arrays to and from the raw bytes stage folders store (platform byte order). */
import { KdqError } from '../errors.ts';

/** Writes a typed array's bytes (little-endian, as the platform stores them). */
export function typedBytes(a: Float32Array | Uint8Array | Int32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Copies file bytes into a fresh, aligned Float32Array. */
export function toFloat32(bytes: Uint8Array): Float32Array {
  if (bytes.byteLength % 4 !== 0) throw new KdqError('E_CACHE', `float32 data of ${bytes.byteLength} bytes is not a multiple of 4`);
  const out = new Float32Array(bytes.byteLength / 4);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}
