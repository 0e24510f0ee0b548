import { createHash } from 'node:crypto';

/** Hex sha256 of bytes or a UTF-8 string: the one digest kdq uses for keys, data and manifests. */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
