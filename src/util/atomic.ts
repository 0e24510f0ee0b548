/**
 * Atomic file writes: any file another process (or a later run) may read is written to a temp
 * path beside it and renamed into place, so readers see the old file or the new one, never half.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, basename } from 'node:path';
import { KdqError } from '../errors.ts';

export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await mkdir(dir, { recursive: true });
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw ioError(path, err);
  }
}

/** Turns a file-system error into a KdqError that names the path and says what to do. */
export function ioError(path: string, err: unknown): KdqError {
  const code = (err as NodeJS.ErrnoException)?.code;
  const why =
    code === 'EACCES' || code === 'EPERM' || code === 'EROFS'
      ? 'permission denied (read-only folder?): choose a writable folder with --runs-dir / --cache-dir'
      : code === 'ENOSPC'
        ? 'the disk is full: free some space, or run `kdq cache gc`'
        : code === 'ENOENT'
          ? 'no such file or folder'
          : String((err as Error)?.message ?? err);
  if (err instanceof KdqError) return err;
  return new KdqError('E_IO', `cannot write ${path}: ${why}`, { cause: err });
}

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
