import { describe, expect, it } from 'vitest';
import { gzipSync } from 'node:zlib';
import { KdqError } from '../../src/errors.ts';
import { checkCountsMatch, inflateIfGzip, isGzip, parseIdxImages, parseIdxLabels } from '../../src/data/idx.ts';
import { idxBytes, imagePixels, imagesIdx, labelsIdx } from './idx-fixtures.ts';

/** Runs `f`, expecting an E_DATA KdqError; returns its message. */
function dataError(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(KdqError);
    expect((err as KdqError).code).toBe('E_DATA');
    expect((err as KdqError).exitCode).toBe(2);
    return (err as Error).message;
  }
  throw new Error('expected an E_DATA error, got none');
}

describe('parseIdxImages', () => {
  it('decodes dimensions and pixels of a 3-dimensional file', () => {
    const img = parseIdxImages(imagesIdx(5, 4, 3), 'a.idx');
    expect([img.count, img.height, img.width, img.channels]).toEqual([5, 4, 3, 1]);
    expect(Array.from(img.pixels)).toEqual(Array.from(imagePixels(5, 4, 3)));
  });

  it('reads a 4-dimensional file as channels', () => {
    const img = parseIdxImages(idxBytes([2, 2, 2, 3], imagePixels(2, 2, 2, 3)), 'rgb.idx');
    expect([img.count, img.height, img.width, img.channels]).toEqual([2, 2, 2, 3]);
    expect(img.pixels.length).toBe(24);
  });

  it('rejects a label file in place of images, naming the swap', () => {
    const msg = dataError(() => parseIdxImages(labelsIdx(3, 10), 'train-labels'));
    expect(msg).toContain("'train-labels'");
    expect(msg).toContain('0x00000801');
    expect(msg).toContain('0x00000803');
    expect(msg).toContain('swapped');
  });

  it('rejects bad magic: non-zero leading bytes and a non-byte type', () => {
    const b = imagesIdx(1, 2, 2);
    b[0] = 0x50; // e.g. a PNG or text file
    expect(dataError(() => parseIdxImages(b, 'x.png'))).toMatch(/'x\.png' has magic 0x50000803, expected 0x00000803 or 0x00000804/);
    const f = imagesIdx(1, 2, 2);
    f[2] = 0x0d; // float32 IDX
    expect(dataError(() => parseIdxImages(f, 'f.idx'))).toContain('0x00000d03');
  });

  it('rejects files shorter than the magic or the header', () => {
    expect(dataError(() => parseIdxImages(new Uint8Array([0, 0]), 'tiny'))).toMatch(/'tiny' is 2 bytes long.*truncated/);
    const b = imagesIdx(1, 2, 2).subarray(0, 10);
    expect(dataError(() => parseIdxImages(b, 'h'))).toMatch(/'h' is 10 bytes long, shorter than its own 16-byte IDX header/);
  });

  it('rejects a truncated body, quoting found and expected length', () => {
    const b = imagesIdx(3, 4, 4);
    const msg = dataError(() => parseIdxImages(b.subarray(0, b.length - 5), 'cut.idx'));
    expect(msg).toContain(`'cut.idx' is ${b.length - 5} bytes long`);
    expect(msg).toContain(`3 x 4 x 4`);
    expect(msg).toContain(`needs exactly ${b.length} bytes`);
    expect(msg).toContain('truncated');
  });

  it('rejects trailing bytes', () => {
    const b = imagesIdx(1, 2, 2);
    const longer = new Uint8Array(b.length + 3);
    longer.set(b);
    expect(dataError(() => parseIdxImages(longer, 'long'))).toContain('trailing bytes');
  });

  it('rejects images of zero height', () => {
    expect(dataError(() => parseIdxImages(idxBytes([4, 0, 3], []), 'zero'))).toContain('0 x 3');
  });
});

describe('parseIdxLabels', () => {
  it('decodes labels and their maximum', () => {
    const l = parseIdxLabels(idxBytes([4], [3, 1, 7, 0]), 'l');
    expect(l.count).toBe(4);
    expect(Array.from(l.labels)).toEqual([3, 1, 7, 0]);
    expect(l.maxLabel).toBe(7);
  });

  it('rejects a label out of range, quoting value, index and range', () => {
    const msg = dataError(() => parseIdxLabels(idxBytes([5], [1, 2, 10, 3, 4]), 'labels.idx', 10));
    expect(msg).toBe(
      "'labels.idx' has label 10 at index 2, expected labels 0..9 (10 classes); the file belongs to another dataset or is corrupt",
    );
  });

  it('rejects an image file in place of labels', () => {
    expect(dataError(() => parseIdxLabels(imagesIdx(2, 2, 2), 'imgs'))).toContain('swapped');
  });

  it('rejects a truncated label file', () => {
    const b = labelsIdx(100, 10);
    expect(dataError(() => parseIdxLabels(b.subarray(0, 60), 'l'))).toContain('needs exactly 108 bytes');
  });
});

describe('gzip', () => {
  it('is detected by content, not by name', async () => {
    const plain = imagesIdx(6, 3, 3);
    const gz = gzipSync(plain);
    expect(isGzip(gz)).toBe(true);
    expect(isGzip(plain)).toBe(false);
    const inflated = await inflateIfGzip(gz, 'no-gz-suffix.idx');
    expect(Buffer.from(inflated).equals(Buffer.from(plain))).toBe(true);
    // Plain bytes pass through untouched (same object, no copy).
    expect(await inflateIfGzip(plain, 'p')).toBe(plain);
    expect(parseIdxImages(inflated, 'x').count).toBe(6);
  });

  it('reports a corrupt gzip stream as E_DATA naming the file', async () => {
    const gz = gzipSync(imagesIdx(50, 8, 8));
    const cut = gz.subarray(0, gz.length >> 1);
    const err = await inflateIfGzip(cut, 'half.gz').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KdqError);
    expect((err as KdqError).code).toBe('E_DATA');
    expect((err as Error).message).toMatch(/'half\.gz' starts like a gzip file but does not inflate/);
  });
});

describe('checkCountsMatch', () => {
  it('passes equal counts and rejects a mismatch naming both files and counts', () => {
    const imgs = parseIdxImages(imagesIdx(3, 2, 2), 'i');
    checkCountsMatch(imgs, 'i', parseIdxLabels(labelsIdx(3, 10), 'l'), 'l');
    const msg = dataError(() => checkCountsMatch(imgs, 'imgs.idx', parseIdxLabels(labelsIdx(4, 10), 'labs.idx'), 'labs.idx'));
    expect(msg).toContain("'imgs.idx' holds 3 images but 'labs.idx' holds 4 labels");
  });
});
