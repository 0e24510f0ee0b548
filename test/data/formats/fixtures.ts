/**
 * Small files of every format for the reader tests, written here independently of the readers
 * (a bug in a parser must not hide in a matching bug in its fixture writer).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { KdqError } from '../../../src/errors.ts';

/** An IDX file: `type` 0x08 (uint8) or 0x0d (float32, written big-endian), any rank. */
export function idx(dims: number[], values: ArrayLike<number>, type = 0x08): Buffer {
  const size = type === 0x0d ? 4 : 1;
  const out = Buffer.alloc(4 + 4 * dims.length + values.length * size);
  out[2] = type;
  out[3] = dims.length;
  dims.forEach((d, i) => out.writeUInt32BE(d, 4 + 4 * i));
  const at = 4 + 4 * dims.length;
  for (let i = 0; i < values.length; i++) {
    if (type === 0x0d) out.writeFloatBE(values[i], at + 4 * i);
    else out[at + i] = values[i];
  }
  return out;
}

/** Value v of example n is (n * 31 + v * 7) mod 256: every example and position recognisable. */
export function pattern(count: number, per: number): Uint8Array {
  const out = new Uint8Array(count * per);
  for (let n = 0; n < count; n++) for (let v = 0; v < per; v++) out[n * per + v] = (n * 31 + v * 7) % 256;
  return out;
}

/** Label i is i mod classes. */
export function cyclicLabels(count: number, classes: number): Uint8Array {
  return Uint8Array.from({ length: count }, (_, i) => i % classes);
}

/** A fresh temp folder per test, removed by the returned cleanup. */
export async function tempDir(prefix: string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `kdq-${prefix}-`));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Awaits `p`, expecting an E_DATA KdqError with exit code 2; returns its message. */
export async function dataError(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err, 'expected an E_DATA error, got none').toBeInstanceOf(KdqError);
  expect((err as KdqError).code).toBe('E_DATA');
  expect((err as KdqError).exitCode).toBe(2);
  return (err as Error).message;
}
