/**
 * Atomic file writes: any file another process (or a later run) may read is written to a temp
 * path beside it and renamed into place, so readers see the old file or the new one, never half.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, basename } from 'node:path';
import { KdqError } from '../errors.ts';

/** A temp path in the same folder as `path`, so the final rename never crosses file systems. */
export function tempSibling(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = tempSibling(path);
  try {
    await mkdir(dirname(path), { recursive: true });
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
