/**
 * One shape for every bad-file error of the format readers:
 * `'FILE' at byte 2: found type code 0x0c (int32), expected 0x08 (uint8) or 0x0d (float32); FIX`.
 * E_DATA, so the CLI exits with 2; the place is a byte offset, a line (and column) or a record.
 */
import { KdqError } from '../../errors.ts';

/** Where in a file the problem is. */
export type Where = { byte: number } | { line: number; column?: string } | { record: number; byte: number } | { entry: string; byte?: number } | null;

function describe(where: Where): string {
  if (where === null) return '';
  if ('entry' in where) return where.byte === undefined ? ` entry ${where.entry}` : ` entry ${where.entry} at byte ${where.byte}`;
  if ('record' in where) return ` at record ${where.record} (byte ${where.byte})`;
  if ('line' in where) return where.column === undefined ? ` line ${where.line}` : ` line ${where.line}, column '${where.column}'`;
  return ` at byte ${where.byte}`;
}

/** An E_DATA error naming the file, the place in it, the problem (found, expected) and the fix. */
export function badFile(file: string, where: Where, problem: string, fix: string, cause?: unknown): KdqError {
  return new KdqError('E_DATA', `'${file}'${describe(where)}: ${problem}; ${fix}`, cause === undefined ? undefined : { cause });
}

/** Turns a failure to open or read `path` into an E_DATA error; KdqErrors pass through. */
export function unreadable(path: string, err: unknown, fix: string): KdqError {
  if (err instanceof KdqError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  const why = code === 'ENOENT' ? 'does not exist' : code === 'EISDIR' ? 'is a folder, not a file' : `cannot be read (${code ?? (err as Error).message})`;
  return new KdqError('E_DATA', `'${path}' ${why}; ${fix}`, { cause: err });
}

/** Formats a byte count with thousands separators, for messages about sizes. */
export function bytes(n: number): string {
  return n.toLocaleString('en-US');
}
