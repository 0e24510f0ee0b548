/**
 * Atomic file writes: any file another process (or a later run) may read is written to a temp
 * path beside it and renamed into place, so readers see the old file or the new one, never half.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, basename, resolve } from 'node:path';
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
  if (code !== undefined && UNWRITABLE.has(code))
    return `permission denied (${code}: read-only folder?): choose a writable folder with --runs-dir / --cache-dir`;
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
/**
 * Creates `dir` and its missing parents, one level at a time. Node's own recursive mkdir spins at
 * full CPU for ever under /proc (every level answers ENOENT); here the first existing ancestor is
 * found first, must be a folder, and a level that cannot be created is an error at once. A path
 * through a file (`/dev/null/x`) or a file in the way (`/dev/null`) is the user's to fix: exit 2.
 */
export async function makeDirs(dir: string): Promise<void> {
  const missing: string[] = [];
  let cur = resolve(dir);
  for (;;) {
    let s;
    try {
      s = await stat(cur);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // ENOTDIR: a file somewhere above; walking up finds it and says so.
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new KdqError('E_IO', `cannot create folder ${dir}: ${describeFsError(e)}`, { cause: e });
      missing.push(cur);
      const up = dirname(cur);
      if (up === cur) throw new KdqError('E_IO', `cannot create folder ${dir}: no part of the path exists`);
      cur = up;
      continue;
    }
    if (!s.isDirectory()) {
      const what = s.isFile()
        ? 'a file'
        : s.isCharacterDevice()
          ? 'a character device'
          : s.isFIFO()
            ? 'a FIFO'
            : s.isBlockDevice()
              ? 'a block device'
              : 'not a folder';
      throw new KdqError('E_USAGE', `cannot use ${dir} as a folder: ${cur} is ${what}; choose a folder path`);
    }
    break;
  }
  for (const d of missing.reverse()) {
    try {
      await mkdir(d);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') continue; // made meanwhile by another process
      throw new KdqError('E_IO', `cannot create folder ${d}: ${describeFsError(e)}`, { cause: e });
    }
  }
}

export async function ensureWritableDir(dir: string): Promise<void> {
  await makeDirs(dir);
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
