import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { probeIdx, readIdxData, type IdxOptions } from '../../../src/data/formats/idx.ts';
import { cyclicLabels, dataError, idx, pattern, tempDir } from './fixtures.ts';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir('idx')));
afterEach(() => cleanup());

interface SetSpec {
  train: number;
  test: number;
  /** Image dimensions after N: [H, W] or [H, W, C]. */
  dims: number[];
  classes: number;
  type?: number;
  gzip?: boolean;
}

async function writeSet(s: SetSpec): Promise<IdxOptions> {
  const per = s.dims.reduce((a, b) => a * b, 1);
  const enc = (b: Buffer) => (s.gzip ? gzipSync(b) : b);
  const values = (n: number) => (s.type === 0x0d ? Array.from(pattern(n, per), (v) => v / 4 - 7.5) : pattern(n, per));
  const o: IdxOptions = {
    trainImages: join(dir, 'train-images'),
    trainLabels: join(dir, 'train-labels'),
    testImages: join(dir, 'test-images'),
    testLabels: join(dir, 'test-labels'),
  };
  await writeFile(o.trainImages, enc(idx([s.train, ...s.dims], values(s.train), s.type)));
  await writeFile(o.trainLabels, enc(idx([s.train], cyclicLabels(s.train, s.classes))));
  await writeFile(o.testImages, enc(idx([s.test, ...s.dims], values(s.test), s.type)));
  await writeFile(o.testLabels, enc(idx([s.test], cyclicLabels(s.test, s.classes))));
  return o;
}

describe('idx format', () => {
  it('reads a 5-class set of 8x8 grey images, plain and gzipped, with probe and read agreeing', async () => {
    for (const gzip of [false, true]) {
      const o = await writeSet({ train: 20, test: 7, dims: [8, 8], classes: 5, gzip });
      const info = await probeIdx(o);
      expect(info).toEqual({
        format: 'idx',
        inputShape: [8, 8, 1],
        dtype: 'uint8',
        numClasses: 5,
        classNames: null,
        featureNames: null,
        trainCount: 20,
        testCount: 7,
      });
      const data = await readIdxData(o);
      const { train, test, ...rest } = data;
      expect(rest).toEqual(info);
      expect(train.x).toBeInstanceOf(Uint8Array);
      expect(Array.from(train.x)).toEqual(Array.from(pattern(20, 64)));
      expect(Array.from(test.x)).toEqual(Array.from(pattern(7, 64)));
      expect(Array.from(train.y)).toEqual(Array.from(cyclicLabels(20, 5)));
      expect(train.y).toBeInstanceOf(Int32Array);
      expect(test.count).toBe(7);
    }
  });

  it('reads rank-4 32x32x3 images and non-square rank-3 images', async () => {
    const rgb = await readIdxData(await writeSet({ train: 4, test: 2, dims: [32, 32, 3], classes: 2 }));
    expect([rgb.inputShape, rgb.numClasses]).toEqual([[32, 32, 3], 2]);
    expect(Array.from(rgb.train.x)).toEqual(Array.from(pattern(4, 32 * 32 * 3)));
    const wide = await probeIdx(await writeSet({ train: 3, test: 3, dims: [6, 10], classes: 3 }));
    expect(wide.inputShape).toEqual([6, 10, 1]);
  });

  it('reads float32 images, converting from big-endian, and 100 classes', async () => {
    const o = await writeSet({ train: 200, test: 100, dims: [4, 5, 3], classes: 100, type: 0x0d, gzip: true });
    const data = await readIdxData(o);
    expect(data.dtype).toBe('float32');
    expect(data.numClasses).toBe(100);
    expect(data.train.x).toBeInstanceOf(Float32Array);
    expect(Array.from(data.train.x.subarray(0, 5))).toEqual(Array.from(pattern(1, 5), (v) => v / 4 - 7.5));
    expect(data.train.x[data.train.x.length - 1]).toBe(pattern(200, 60)[200 * 60 - 1] / 4 - 7.5);
  });

  it('takes the class count from numClasses when given, and checks labels against it', async () => {
    const o = await writeSet({ train: 10, test: 4, dims: [2, 2], classes: 3 });
    expect((await probeIdx({ ...o, numClasses: 10 })).numClasses).toBe(10);
    const msg = await dataError(readIdxData({ ...o, numClasses: 2 }));
    expect(msg).toBe(
      `'${o.trainLabels}' at byte 10: label 2 of example 2, expected 0..1 (2 classes, numClasses); the file belongs to another dataset or is corrupt; or set numClasses`,
    );
  });

  it('rejects a test label past the training labels, naming its byte', async () => {
    const o = await writeSet({ train: 6, test: 3, dims: [2, 2], classes: 3 });
    await writeFile(o.testLabels, idx([3], [0, 1, 7]));
    const msg = await dataError(probeIdx(o));
    expect(msg).toContain(`'${o.testLabels}' at byte 10: label 7 of example 2, expected 0..2 (3 classes, the largest training label is 2)`);
  });

  it('rejects truncated files, plain and gzipped, naming where they end and what the header promised', async () => {
    const o = await writeSet({ train: 5, test: 2, dims: [4, 4], classes: 2 });
    const full = idx([5, 4, 4], pattern(5, 16));
    await writeFile(o.trainImages, full.subarray(0, full.length - 3));
    // One at a time: a second promise made up front can reject before anything awaits it.
    for (const start of [() => probeIdx(o), () => readIdxData(o)]) {
      expect(await dataError(start())).toBe(
        `'${o.trainImages}' at byte 93: the file ends here, but its header (5 x 4 x 4, uint8) promises 96 bytes: the file is truncated; ` +
          'check that the file is an IDX file of this role (rewrite it, or download or copy it again)',
      );
    }
    await writeFile(o.trainImages, gzipSync(full.subarray(0, 50)));
    expect(await dataError(readIdxData(o))).toContain(`at byte 50: the inflated data ends here, but its header (5 x 4 x 4, uint8) promises 96 bytes`);
    expect(await dataError(probeIdx(o))).toContain(`at byte 50: the inflated data ends here`);
    // A gzip stream cut short (its trailer lost) is an error too, not a partial read.
    const gz = gzipSync(full);
    await writeFile(o.trainImages, gz.subarray(0, gz.length - 10));
    expect(await dataError(readIdxData(o))).toMatch(/the gzip data breaks off or is corrupt after \d+ inflated bytes/);
  });

  it('rejects trailing bytes', async () => {
    const o = await writeSet({ train: 2, test: 2, dims: [2, 2], classes: 2 });
    await writeFile(o.testImages, Buffer.concat([idx([2, 2, 2], pattern(2, 4)), Buffer.from([1, 2])]));
    expect(await dataError(readIdxData(o))).toContain(
      `'${o.testImages}' at byte 24: the file goes on past the 24 bytes its header (2 x 2 x 2, uint8) promises (trailing bytes)`,
    );
  });

  it('rejects a wrong magic, a wrong type, a wrong rank and swapped files, naming the byte', async () => {
    const o = await writeSet({ train: 2, test: 2, dims: [2, 2], classes: 2 });
    await writeFile(o.trainImages, Buffer.from('\x89PNG\r\n\x1a\n not an idx file', 'latin1'));
    expect(await dataError(probeIdx(o))).toContain(`'${o.trainImages}' at byte 0: found 0x89 0x50, expected the two zero bytes that start an IDX file`);
    await writeFile(o.trainImages, idx([2, 2, 2], [0, 0, 0, 0, 0, 0, 0, 0], 0x0c));
    expect(await dataError(probeIdx(o))).toContain('at byte 2: found type code 0x0c (int32), expected 0x08 (uint8) or 0x0d (float32) for IDX images');
    await writeFile(o.trainImages, idx([2, 4], pattern(2, 4)));
    expect(await dataError(probeIdx(o))).toContain('at byte 3: found rank 2, expected 3 or 4 for IDX images');
    await writeFile(o.trainImages, idx([2], [0, 1]));
    expect(await dataError(probeIdx(o))).toContain(
      'at byte 3: found rank 1 (an IDX label file), expected images of rank 3 or 4; are the images and labels files swapped?',
    );
    await writeFile(o.trainImages, idx([2, 2, 2], pattern(2, 4)));
    await writeFile(o.trainLabels, idx([2, 2, 2], pattern(2, 4)));
    expect(await dataError(probeIdx(o))).toContain(`'${o.trainLabels}' at byte 3: found rank 3 (an IDX image file)`);
    await writeFile(o.trainLabels, Buffer.from([0, 0]));
    expect(await dataError(readIdxData(o))).toContain(`'${o.trainLabels}' at byte 2: the file ends after 2 bytes, inside the 4-byte IDX magic`);
  });

  it('rejects counts that disagree and splits of different shapes', async () => {
    const o = await writeSet({ train: 4, test: 2, dims: [3, 3], classes: 2 });
    await writeFile(o.trainLabels, idx([3], [0, 1, 0]));
    expect(await dataError(probeIdx(o))).toBe(
      `'${o.trainLabels}' at byte 4: holds 3 labels, but '${o.trainImages}' holds 4 images (its byte 4); ` +
        'images and labels must match one to one: check that both files come from the same dataset and split',
    );
    await writeFile(o.trainLabels, idx([4], [0, 1, 0, 1]));
    await writeFile(o.testImages, idx([2, 3, 4], pattern(2, 12)));
    expect(await dataError(readIdxData(o))).toContain(`holds 3 x 4 x 1 uint8 images, but the training images '${o.trainImages}' are 3 x 3 x 1 uint8`);
  });

  it('probe reads headers only: a gzipped file corrupt past its header probes fine and fails to read', async () => {
    const o = await writeSet({ train: 2000, test: 2, dims: [16, 16], classes: 2 });
    // Stored blocks, so the byte flipped 100 bytes before the end (past what a probe inflates) is a pixel.
    const gz = gzipSync(idx([2000, 16, 16], pattern(2000, 256)), { level: 0 });
    gz[gz.length - 100] ^= 0xff;
    await writeFile(o.trainImages, gz);
    expect((await probeIdx(o)).trainCount).toBe(2000);
    expect(await dataError(readIdxData(o))).toMatch(/the gzip data breaks off or is corrupt/);
  });

  it('stops inflating a gzip bomb at the size its header promises', async () => {
    // 1 GiB of zeros after a header promising 2 x 4 x 4: 1024 gzip members of 1 MiB each, about 1 MB on disk.
    const member = gzipSync(Buffer.alloc(1 << 20));
    const head = gzipSync(idx([2, 4, 4], pattern(2, 16)));
    const o = await writeSet({ train: 2, test: 2, dims: [4, 4], classes: 2 });
    await writeFile(o.trainImages, Buffer.concat([head, ...Array.from({ length: 1024 }, () => member)]));
    const before = process.memoryUsage().rss;
    const t0 = Date.now();
    const msg = await dataError(readIdxData(o));
    expect(msg).toContain(
      'at byte 48: the inflated data goes on past the 48 bytes its header (2 x 4 x 4, uint8) promises (trailing data, or a gzip bomb: inflation stopped here)',
    );
    expect(process.memoryUsage().rss - before).toBeLessThan(64 << 20);
    expect(Date.now() - t0).toBeLessThan(5000); // inflating the whole GiB takes longer than that here
  });
});
