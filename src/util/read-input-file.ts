/**
 * Reads a file the user named, after checking that it is a regular file of a sane size: a FIFO
 * would block the read forever and /dev/zero would fill memory. The check is made on the opened
 * descriptor (open does not block on a FIFO with O_NONBLOCK), so the file cannot be swapped for
 * something else between the check and the read.
 */
import { closeSync, constants, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { KdqError } from '../errors.ts';

function kind(s: Stats): string {
  if (s.isDirectory()) return 'a directory';
  if (s.isFIFO()) return 'a FIFO (named pipe)';
  if (s.isCharacterDevice()) return 'a character device';
  if (s.isBlockDevice()) return 'a block device';
  if (s.isSocket()) return 'a socket';
  return 'not a regular file';
}

/**
 * Why `path` cannot be read as a regular file (`does not exist`, `is a directory`, `is a FIFO
 * (named pipe)`...), or null when it is one. For checks that must not open the file (validation).
 */
export function whyNotRegularFile(path: string): string | null {
  let s: Stats;
  try {
    s = statSync(path);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : `cannot be read (${(e as Error).message})`;
  }
  return s.isFile() ? null : `is ${kind(s)}, not a regular file`;
}

export interface InputFileOptions {
  /** Refuse files larger than this, before reading a byte. */
  maxBytes: number;
  /** What the file should be, for messages: `a .tflite file`. */
  expected: string;
}

/** The whole file; E_USAGE (exit 2) for a missing, special or oversized file. */
export async function readInputFile(path: string, opts: InputFileOptions): Promise<Uint8Array> {
  let fh: FileHandle;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'it does not exist' : (e as Error).message;
    throw new KdqError('E_USAGE', `cannot read ${path}: ${why}; pass the path of ${opts.expected}`);
  }
  try {
    const s = await fh.stat();
    if (!s.isFile()) throw new KdqError('E_USAGE', `${path} is ${kind(s)}, not a regular file; pass the path of ${opts.expected}`);
    if (s.size > opts.maxBytes) {
      throw new KdqError('E_USAGE', `${path} is ${s.size} bytes, over the ${opts.maxBytes}-byte limit for ${opts.expected}; check that this is the right file`);
    }
    // Read what stat promised and no more: a file still growing is read as it was.
    const bytes = new Uint8Array(s.size);
    let filled = 0;
    while (filled < bytes.length) {
      const { bytesRead } = await fh.read(bytes, filled, bytes.length - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return filled === bytes.length ? bytes : bytes.subarray(0, filled);
  } catch (e) {
    if (e instanceof KdqError) throw e;
    throw new KdqError('E_USAGE', `cannot read ${path}: ${(e as Error).message}; pass the path of ${opts.expected}`, { cause: e });
  } finally {
    await fh.close();
  }
}

/**
 * `readInputFile` without the event loop: for the many small files of a listing (`kdq runs`), where
 * four thread-pool round trips per file cost more than the reads on a busy machine.
 */
export function readInputFileSync(path: string, opts: InputFileOptions): Uint8Array {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'it does not exist' : (e as Error).message;
    throw new KdqError('E_USAGE', `cannot read ${path}: ${why}; pass the path of ${opts.expected}`);
  }
  try {
    const s = fstatSync(fd);
    if (!s.isFile()) throw new KdqError('E_USAGE', `${path} is ${kind(s)}, not a regular file; pass the path of ${opts.expected}`);
    if (s.size > opts.maxBytes) {
      throw new KdqError('E_USAGE', `${path} is ${s.size} bytes, over the ${opts.maxBytes}-byte limit for ${opts.expected}; check that this is the right file`);
    }
    const bytes = new Uint8Array(s.size);
    let filled = 0;
    while (filled < bytes.length) {
      const n = readSync(fd, bytes, filled, bytes.length - filled, filled);
      if (n === 0) break;
      filled += n;
    }
    return filled === bytes.length ? bytes : bytes.subarray(0, filled);
  } catch (e) {
    if (e instanceof KdqError) throw e;
    throw new KdqError('E_USAGE', `cannot read ${path}: ${(e as Error).message}; pass the path of ${opts.expected}`, { cause: e });
  } finally {
    closeSync(fd);
  }
}
