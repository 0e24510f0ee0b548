import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { KdqError } from '../../src/errors.ts';
import { readIdxImages } from '../../src/data/idx-file.ts';
import { idxBytes, imagePixels, imagesIdx } from './idx-fixtures.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kdq-idxfile-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function file(name: string, bytes: Uint8Array): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, bytes);
  return p;
}

async function dataError(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(KdqError);
  expect((err as KdqError).code).toBe('E_DATA');
  return (err as Error).message;
}

describe('readIdxImages', () => {
  // 300 images of 10 x 10: large enough that the gzip stream arrives in several chunks.
  const full = imagesIdx(300, 10, 10);
  const expected = (n: number) => Array.from(imagePixels(n, 10, 10));

  it('reads a whole plain file and returns its raw bytes for hashing', async () => {
    const p = await file('whole', full);
    const r = await readIdxImages(p, null, 'trainImages', 'fix');
    expect(r.images.count).toBe(300);
    expect(r.images.pixels.length).toBe(300 * 100);
    expect(r.raw?.length).toBe(full.length);
  });

  for (const gz of [false, true]) {
    it(`reads only the first images of a ${gz ? 'gzipped' : 'plain'} file`, async () => {
      const p = await file(`prefix${gz ? '.gz' : ''}`, gz ? gzipSync(full) : full);
      const r = await readIdxImages(p, 7, 'trainImages', 'fix');
      expect(r.raw).toBeNull();
      expect([r.images.count, r.images.height, r.images.width, r.images.channels]).toEqual([300, 10, 10, 1]);
      expect(Array.from(r.images.pixels)).toEqual(expected(7));
      const big = await readIdxImages(p, 10_000, 'trainImages', 'fix');
      expect(big.images.pixels.length).toBe(300 * 100);
      expect(Array.from(big.images.pixels.subarray(29_900))).toEqual(expected(300).slice(29_900));
    });

    it(`still rejects a truncated ${gz ? 'gzipped' : 'plain'} file when reading a prefix`, async () => {
      const cut = full.subarray(0, full.length - 50);
      const p = await file(`cut${gz ? '.gz' : ''}`, gz ? gzipSync(cut) : cut);
      const msg = await dataError(readIdxImages(p, 3, 'trainImages', 'fix'));
      expect(msg).toBe(
        `'${p}' is ${cut.length} bytes long, but its header (dimensions 300 x 10 x 10) needs exactly ${full.length} bytes; ` +
          `the file is truncated: download or copy it again`,
      );
    });

    it(`rejects a label file given as images (${gz ? 'gzipped' : 'plain'}, prefix read)`, async () => {
      const labels = idxBytes([5], [1, 2, 3, 4, 5]);
      const p = await file(`labels${gz ? '.gz' : ''}`, gz ? gzipSync(labels) : labels);
      expect(await dataError(readIdxImages(p, 3, 'trainImages', 'fix'))).toContain('0x00000801');
    });
  }

  it('rejects a gzip stream cut in the middle', async () => {
    const gz = gzipSync(full);
    const p = await file('half.gz', gz.subarray(0, gz.length >> 1));
    expect(await dataError(readIdxImages(p, 299, 'trainImages', 'fix'))).toContain('does not inflate');
  });

  it('reads an empty image file with a limit', async () => {
    const p = await file('empty.gz', gzipSync(idxBytes([0, 2, 2], [])));
    const r = await readIdxImages(p, 5, 'trainImages', 'fix');
    expect(r.images.count).toBe(0);
    expect(r.images.pixels.length).toBe(0);
  });

  it('names a missing file with its role and fix', async () => {
    const p = join(dir, 'absent');
    expect(await dataError(readIdxImages(p, 3, 'idx trainImages', 'check data.files'))).toBe(
      `idx trainImages '${p}' does not exist; check data.files`,
    );
    expect(await dataError(readIdxImages(p, null, 'idx trainImages', 'check data.files'))).toBe(
      `idx trainImages '${p}' does not exist; check data.files`,
    );
  });
});
