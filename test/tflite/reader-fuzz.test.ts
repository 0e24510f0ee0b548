/**
 * Damaged .tflite files: truncations at every byte, random byte flips and random 32-bit overwrites
 * of real kdq-exported files (float32 and int8), seeded. Each variant must end in the reader's one
 * clean error or in a model that makes sense by checks written here, independently of the reader's
 * own; a sample goes through `kdq inspect` as a process, for exit code 2 and a one-line message.
 */
import * as tf from '@tensorflow/tfjs';
import { execa } from 'execa';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KdqError } from '../../src/errors.ts';
import { exportTflite } from '../../src/tflite/export.ts';
import { inspectTflite } from '../../src/tflite/inspect.ts';
import type { TfliteModel } from '../../src/tflite/model.ts';
import { bufferDataOffsets, readTflite } from '../../src/tflite/reader.ts';
import { createRng } from '../../src/util/random.ts';
import { SIDE, flatModel, syntheticImages } from './export-fixtures.ts';

const BYTES: Record<string, number> = { FLOAT32: 4, INT32: 4, INT8: 1, UINT8: 1, FLOAT16: 2 };
const FLIPS = 2000;
const OVERWRITES = 2000;

let files: Record<'float32' | 'int8', Uint8Array>;
let dir: string;

beforeAll(async () => {
  await tf.setBackend('cpu');
  const model = flatModel();
  const shape: [number, number, number] = [SIDE, SIDE, 1];
  files = {
    float32: exportTflite(model, { mode: 'float32', inputShape: shape }).bytes,
    int8: exportTflite(model, { mode: 'int8', calibration: syntheticImages(20, 3).x, inputShape: shape }).bytes,
  };
  model.dispose();
  dir = await mkdtemp(join(tmpdir(), 'kdq-reader-fuzz-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** What a model that parsed must satisfy, checked without the reader's code. */
function sensible(m: TfliteModel, bytes: Uint8Array): void {
  const n = m.tensors.length;
  expect(m.operators.length).toBeGreaterThan(0);
  for (const i of [...m.inputs, ...m.outputs]) expect(i >= 0 && i < n).toBe(true);
  for (const o of m.operators) {
    expect(o.version).toBeGreaterThanOrEqual(1);
    for (const i of [...o.inputs, ...o.outputs]) expect(i >= -1 && i < n).toBe(true);
  }
  for (const t of m.tensors) {
    for (const d of t.shape) expect(d).toBeGreaterThanOrEqual(0);
    const elements = t.shape.reduce((a, b) => a * b, 1);
    expect(elements * (BYTES[t.type] ?? 1)).toBeLessThanOrEqual(2 ** 31);
    if (t.buffer && BYTES[t.type]) expect(t.buffer.length).toBe(elements * BYTES[t.type]!);
    if (t.quantization && t.quantization.scale.length > 1) {
      expect(t.shape[t.quantization.quantizedDimension]).toBe(t.quantization.scale.length);
    }
  }
  for (const s of m.signatures) for (const x of [...s.inputs, ...s.outputs]) expect(x.tensor >= 0 && x.tensor < n).toBe(true);
  const text = inspectTflite(bytes);
  expect(text).not.toMatch(/undefined|NaN|Infinity| -\d+ B /);
}

type Outcome = { ok: true } | { ok: false; message: string };

/** Reads a variant: the reader's KdqError or a sensible model; anything else fails the test. */
function outcome(bytes: Uint8Array, label: string): Outcome {
  let m: TfliteModel;
  try {
    m = readTflite(bytes);
  } catch (e) {
    if (!(e instanceof KdqError)) throw new Error(`${label}: ${String(e)}`, { cause: e });
    expect(e.code, label).toBe('E_TFLITE');
    expect(e.exitCode, label).toBe(2);
    expect(e.message, label).toMatch(/^not a readable \.tflite file: [^\n]+$/);
    return { ok: false, message: e.message };
  }
  sensible(m, bytes);
  return { ok: true };
}

/** The part of a message that says what was wrong, without indices and offsets. */
function kind(message: string): string {
  return message
    .replace(/^not a readable \.tflite file: /, '')
    .replace(/;.*$/, '')
    .replace(/\d+/g, 'N')
    .replace(/"[^"]*"/g, 'S')
    .slice(0, 60);
}

/**
 * Byte offsets outside constant data (header, tables, vtables, vectors, strings): where damage
 * must be caught. Weight bytes are damaged too, but most of them can take any value.
 */
function structureOffsets(bytes: Uint8Array): number[] {
  const inData = new Uint8Array(bytes.length);
  const dv = new DataView(bytes.buffer, bytes.byteOffset);
  // Each buffer's data follows its 4-byte length.
  for (const s of bufferDataOffsets(bytes)) if (s >= 0) inData.fill(1, s, s + dv.getUint32(s - 4, true));
  return Array.from(inData.keys()).filter((i) => !inData[i]);
}

/** A position: half of them anywhere in the file, half in its structure. */
function position(rng: () => number, bytes: Uint8Array, structure: number[]): number {
  return rng() < 0.5 ? Math.floor(rng() * bytes.length) : structure[Math.floor(rng() * structure.length)]!;
}

describe.each(['float32', 'int8'] as const)('a damaged kdq %s file', (which) => {
  it('truncated at every byte offset of its structure, and at 300 inside its weights: always refused', () => {
    const bytes = files[which];
    const kinds = new Set<string>();
    const rng = createRng(which === 'int8' ? 1401 : 1402);
    const lengths = [...structureOffsets(bytes), ...Array.from({ length: 300 }, () => Math.floor(rng() * bytes.length))];
    for (const len of lengths) {
      const r = outcome(bytes.subarray(0, len), `truncated to ${len}`);
      expect(r.ok, `truncated to ${len} bytes`).toBe(false);
      if (!r.ok) kinds.add(kind(r.message));
    }
    // Truncation hits the header, the root table, vtables, vectors, strings and buffer data.
    expect(kinds.size).toBeGreaterThan(5);
  });

  it(`${FLIPS} random byte flips: each a clean refusal or a sensible model`, () => {
    const bytes = files[which];
    const rng = createRng(which === 'int8' ? 1501 : 1502);
    const structure = structureOffsets(bytes);
    let refused = 0;
    for (let k = 0; k < FLIPS; k++) {
      const v = bytes.slice();
      const at = position(rng, v, structure);
      v[at] ^= 1 + Math.floor(rng() * 255);
      if (!outcome(v, `byte ${at} flipped (variant ${k})`).ok) refused++;
    }
    // Most flips land in weight data (still a model); the rest must be caught, not shown.
    expect(refused).toBeGreaterThan(FLIPS * (which === 'int8' ? 0.2 : 0.05));
    expect(refused).toBeLessThan(FLIPS);
  });

  it(`${OVERWRITES} random 32-bit overwrites: each a clean refusal or a sensible model`, () => {
    const bytes = files[which];
    const rng = createRng(which === 'int8' ? 1601 : 1602);
    const special = [0, 1, 0xffffffff, 0x7fffffff, 0x80000000, 0xfffffffb, bytes.length, bytes.length - 4, 0x10000, 0xffff];
    const structure = structureOffsets(bytes);
    let refused = 0;
    for (let k = 0; k < OVERWRITES; k++) {
      const v = bytes.slice();
      const at = Math.min(position(rng, v, structure), v.length - 4) & (rng() < 0.75 ? ~3 : ~0);
      const value = rng() < 0.5 ? special[Math.floor(rng() * special.length)]! : Math.floor(rng() * 2 ** 32);
      new DataView(v.buffer).setUint32(at, value, true);
      if (!outcome(v, `u32 ${value} at ${at} (variant ${k})`).ok) refused++;
    }
    expect(refused).toBeGreaterThan(OVERWRITES * 0.05);
  });
});

describe('the damage the issue found', () => {
  /** Byte offset of the int32 `value` in the shape vector of the first tensor named `name`. */
  function patchFirst(bytes: Uint8Array, find: number[], value: number): Uint8Array {
    const v = bytes.slice();
    const dv = new DataView(v.buffer);
    for (let at = 0; at + 4 * find.length <= v.length; at += 4) {
      if (find.every((x, i) => dv.getInt32(at + 4 * i, true) === x)) {
        dv.setInt32(at + 4, value, true);
        return v;
      }
    }
    throw new Error(`pattern ${find.join(',')} not found`);
  }

  it('a negative dimension is refused, naming the tensor (it printed "-560 B")', () => {
    // The input's shape vector [4: 1, SIDE, SIDE, 1]: make its first dimension -5.
    const v = patchFirst(files.int8, [4, 1, SIDE, SIDE, 1], -5);
    expect(() => readTflite(v)).toThrow(/not a readable \.tflite file: tensor \d+ "[^"]*": dimension 0 of shape \[-5,12,12,1\] is negative .* at byte \d+/);
  });

  it('a dimension of 2^31-1 is refused (it printed "240518168464 B")', () => {
    const v = patchFirst(files.int8, [4, 1, SIDE, SIDE, 1], 2 ** 31 - 1);
    expect(() => readTflite(v)).toThrow(/shape \[2147483647,12,12,1\] of (FLOAT32|INT8) needs \d+ bytes, more than the 2147483648/);
  });

  it('a subgraph offset pointing back at the subgraphs vector is refused (it listed an empty model)', () => {
    const m = readTflite(files.int8);
    expect(m.operators.length).toBeGreaterThan(0);
    // Model.subgraphs is a vector of one offset; point the element at the vector's own length word.
    const v = files.int8.slice();
    const dv = new DataView(v.buffer);
    const root = dv.getUint32(0, true);
    const vt = root - dv.getInt32(root, true);
    const field = root + dv.getUint16(vt + 4 + 2 * 2, true);
    const vec = field + dv.getUint32(field, true);
    dv.setUint32(vec + 4, 0xfffffffc, true);
    expect(() => readTflite(v)).toThrow(/not a readable \.tflite file: subgraph 0: offset 4294967292 cannot point at an object at byte \d+/);
  });

  it('an operator input index past the tensors is refused', () => {
    const m = readTflite(files.int8);
    const op = m.operators[1]!;
    const v = patchFirst(files.int8, [op.inputs.length, ...op.inputs], m.tensors.length + 7);
    expect(() => readTflite(v)).toThrow(
      new RegExp(`operator 1 \\(${op.op}\\) input 0 names tensor ${m.tensors.length + 7}, but the subgraph has tensors 0 to`),
    );
  });
});

describe('kdq inspect on damaged and special files (the CLI, as a process)', () => {
  const kdq = (file: string) => execa('node', ['bin/kdq.mjs', 'inspect', file], { reject: false, timeout: 60_000 });

  it('exits 2 with one line for a sample of damaged files, and 0 for the intact ones', async () => {
    const rng = createRng(1701);
    const samples: Array<[string, Uint8Array]> = [
      ['intact-int8', files.int8],
      ['truncated-header', files.int8.subarray(0, 6)],
      ['truncated-half', files.float32.subarray(0, files.float32.length >> 1)],
      ['truncated-end', files.int8.subarray(0, files.int8.length - 1)],
    ];
    // Overwrites that the reader refuses, picked at random positions of both files.
    while (samples.length < 12) {
      const which = samples.length % 2 ? 'int8' : 'float32';
      const v = files[which].slice();
      const at = Math.floor(rng() * (v.length - 3)) & ~3;
      new DataView(v.buffer).setUint32(at, Math.floor(rng() * 2 ** 32), true);
      if (!outcome(v, `sample at ${at}`).ok) samples.push([`${which}-u32-at-${at}`, v]);
    }
    for (const [name, bytes] of samples) {
      const file = join(dir, `${name}.tflite`);
      await writeFile(file, bytes);
      const r = await kdq(file);
      if (name.startsWith('intact')) {
        expect(r.exitCode, name).toBe(0);
        continue;
      }
      expect(r.exitCode, `${name}: ${r.stderr}`).toBe(2);
      expect(r.stdout, name).toBe('');
      expect(r.stderr, name).toMatch(new RegExp(`^kdq: not a readable \\.tflite file: ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: [^\n]+$`));
      expect(r.stderr, name).not.toMatch(/internal error|at .*\.ts:\d+/);
    }
  }, 300_000);

  it('refuses a FIFO without blocking and /dev/zero without reading it', async () => {
    const fifo = join(dir, 'pipe.tflite');
    await execa('mkfifo', [fifo]);
    const a = await kdq(fifo);
    expect(a.exitCode).toBe(2);
    expect(a.stderr).toMatch(/^kdq: .*pipe\.tflite is a FIFO \(named pipe\), not a regular file; pass the path of a \.tflite file$/);
    const b = await kdq('/dev/zero');
    expect(b.exitCode).toBe(2);
    expect(b.stderr).toBe('kdq: /dev/zero is a character device, not a regular file; pass the path of a .tflite file');
    const c = await kdq(dir);
    expect(c.stderr).toMatch(/is a directory, not a regular file/);
  }, 120_000);
});
