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

/** Error codes of a folder kdq cannot write to, or of a full disk: the user's to fix, not a bug. */
const UNWRITABLE = new Set(['EACCES', 'EPERM', 'EROFS']);
const FULL = new Set(['ENOSPC', 'EDQUOT']);

/** What `kdq cache gc` frees, so that suggesting it on a full disk cannot destroy work by surprise. */
export const GC_ADVICE =
  '`kdq cache gc` deletes the unfinished run folders of dead kdq processes and the cache entries no run folder uses, and keeps those of failed and running runs';

/** Whether `err` is a file-system error that means "this folder is unwritable" or "the disk is full". */
export function isStorageError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return code !== undefined && (UNWRITABLE.has(code) || FULL.has(code));
}

/** Why a file-system operation failed, and the fix, in words. */
export function describeFsError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code !== undefined && UNWRITABLE.has(code)) return `permission denied (${code}: read-only folder?): choose a writable folder with --runs-dir / --cache-dir`;
  if (code !== undefined && FULL.has(code)) return `the disk is full (${code}): free some space; ${GC_ADVICE}`;
  if (code === 'ENOENT') return 'no such file or folder';
  return String((err as Error)?.message ?? err);
}

/** Turns a file-system error into a KdqError that names the path and says what to do. */
export function ioError(path: string, err: unknown): KdqError {
  if (err instanceof KdqError) return err;
  return new KdqError('E_IO', `cannot write ${path}: ${describeFsError(err)}`, { cause: err });
}

/**
 * Checks, before any work starts, that `dir` can be created and written (a file created and
 * renamed in it), so that a read-only or full folder fails the run in its first second rather than
 * after an hour of training. Leaves `dir` in place but no file in it.
 */
export async function ensureWritableDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
  } catch (err) {
    throw new KdqError('E_IO', `cannot create folder ${dir}: ${describeFsError(err)}`, { cause: err });
  }
  const probe = join(dir, `.kdq-write-check.${process.pid}.${randomBytes(4).toString('hex')}`);
  try {
    await writeFileAtomic(probe, 'kdq checks that this folder is writable; safe to delete\n');
  } catch (err) {
    const cause = err instanceof KdqError && err.cause !== undefined ? err.cause : err;
    throw new KdqError('E_IO', `cannot write to folder ${dir}: ${describeFsError(cause)}`, { cause });
  } finally {
    await rm(probe, { force: true }).catch(() => undefined);
  }
}
