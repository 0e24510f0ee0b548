/**
 * The npz reader against files real numpy wrote (test/fixtures/npz, made by make-fixtures.py with
 * Debian's numpy 1.24), and against copies of them the tests damage.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { probeNpz, readNpz } from '../../../src/data/formats/npz.ts';
import { cyclicLabels, dataError, pattern, tempDir } from './fixtures.ts';

const FIXTURES = join(import.meta.dirname, '..', '..', 'fixtures', 'npz');
const fx = (name: string) => join(FIXTURES, name);

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir('npz')));
afterEach(() => cleanup());

describe('npz format', () => {
  it('reads numpy.savez output: uint8 [N, 8, 8] images, uint8 labels, 5 classes; probe agrees', async () => {
    const info = await probeNpz({ file: fx('grey-8x8-5class.npz') });
    expect(info).toEqual({
      format: 'npz',
      inputShape: [8, 8, 1],
      dtype: 'uint8',
      numClasses: 5,
      classNames: null,
      featureNames: null,
      trainCount: 20,
      testCount: 6,
    });
    const data = await readNpz({ file: fx('grey-8x8-5class.npz') });
    const { train, test, ...rest } = data;
    expect(rest).toEqual(info);
    expect(train.x).toBeInstanceOf(Uint8Array);
    expect(Array.from(train.x)).toEqual(Array.from(pattern(20, 64)));
    expect(Array.from(test.x)).toEqual(Array.from(pattern(6, 64)));
    expect(Array.from(train.y)).toEqual(Array.from(cyclicLabels(20, 5)));
  });

  it('reads numpy.savez_compressed output: float32 non-square RGB images, int64 [N, 1] labels', async () => {
    const data = await readNpz({ file: fx('rgb-6x10-float32-3class.npz') });
    expect([data.inputShape, data.dtype, data.numClasses, data.trainCount]).toEqual([[6, 10, 3], 'float32', 3, 12]);
    expect(data.train.x).toBeInstanceOf(Float32Array);
    expect(Array.from(data.train.x)).toEqual(Array.from(pattern(12, 180)));
    expect(Array.from(data.test.y)).toEqual([0, 1, 2, 0]);
  });

  it('reads 100 classes of int32 labels with [N, H, W, 1] images', async () => {
    const data = await readNpz({ file: fx('grey-4x4x1-100class-int32.npz') });
    expect([data.inputShape, data.numClasses, data.testCount]).toEqual([[4, 4, 1], 100, 100]);
    expect(data.train.y[199]).toBe(99);
  });

  it('reads tabular rows [N, F] as input shape [F]', async () => {
    const data = await readNpz({ file: fx('tabular-7-2class.npz') });
    expect([data.inputShape, data.dtype, data.numClasses]).toEqual([[7], 'float32', 2]);
    expect(Array.from(data.test.x.subarray(7, 14))).toEqual(Array.from(pattern(2, 7).subarray(7)));
  });

  it('converts big-endian arrays and reads npy format 2.0 headers', async () => {
    const big = await readNpz({ file: fx('big-endian.npz') });
    expect(Array.from(big.train.x)).toEqual(Array.from(pattern(5, 6)));
    expect(Array.from(big.train.y)).toEqual([0, 1, 0, 1, 0]);
    const v2 = await readNpz({ file: fx('npy-v2.npz') });
    expect(Array.from(v2.test.x)).toEqual(Array.from(pattern(2, 9)));
  });

  it('takes numClasses when given and checks labels against it', async () => {
    expect((await probeNpz({ file: fx('grey-8x8-5class.npz'), numClasses: 10 })).numClasses).toBe(10);
    const f = fx('grey-8x8-5class.npz');
    expect(await dataError(probeNpz({ file: f, numClasses: 4 }))).toContain(
      `'${f}' entry y_train.npy at byte 132: label 4 of example 4, expected 0..3 (4 classes, numClasses)`,
    );
  });

  const bad: [string, string][] = [
    ['fortran-order.npz', 'entry x_train.npy: the array is stored in Fortran (column-major) order; save numpy.ascontiguousarray(x_train) instead'],
    [
      'object-labels.npz',
      "entry y_train.npy: dtype '|O' (Python objects, stored pickled), expected numbers; kdq never unpickles; save y_train.astype('int64')",
    ],
    ['float64-images.npz', "entry x_train.npy: dtype '<f8', expected uint8 ('|u1') or float32 ('<f4'); save x_train.astype('float32')"],
    ['no-y-test.npz', ': lacks y_test (it holds x_train, y_train, x_test)'],
    ['count-mismatch.npz', 'entry y_train.npy: holds 5 labels, but x_train holds 6 examples'],
    ['test-label-out-of-range.npz', 'entry y_test.npy at byte 129: label 3 of example 1, expected 0..2 (3 classes, the largest y_train label is 2)'],
    ['negative-label.npz', 'entry y_train.npy at byte 152: label -1 of example 3, expected a class index of 0 or more'],
    ['shape-mismatch.npz', "entry x_test.npy: examples are [4, 5, 1] uint8, but x_train's are [4, 4, 1] uint8"],
    ['images-rank-5.npz', 'entry x_train.npy: shape (6, 2, 2, 2, 2), expected images [N, H, W] or [N, H, W, C], or rows [N, F]'],
    ['not-npy-member.npz', 'entry x_train.npy at byte 0: found "this i", expected the .npy magic "\\x93NUMPY"'],
  ];
  for (const [name, expected] of bad) {
    it(`rejects ${name}`, async () => {
      const msg = await dataError(probeNpz({ file: fx(name) }));
      expect(msg).toContain(`'${fx(name)}'${expected.startsWith(':') ? '' : ' '}${expected}`);
    });
  }

  it('rejects a truncated file, a file that is not a zip, and a member whose bytes were damaged', async () => {
    const good = await readFile(fx('grey-8x8-5class.npz'));
    const cut = join(dir, 'cut.npz');
    await writeFile(cut, good.subarray(0, 2000));
    expect(await dataError(probeNpz({ file: cut }))).toContain(
      `'${cut}' at byte 2000: found no zip end-of-central-directory record at the end: not a .npz (zip) file, or a truncated one`,
    );
    const text = join(dir, 'text.npz');
    await writeFile(text, 'x_train,y_train\n1,2\n');
    expect(await dataError(readNpz({ file: text }))).toContain('found no zip end-of-central-directory record');
    const flipped = Buffer.from(good);
    flipped[500] ^= 0xff; // a pixel of x_train (stored)
    const damaged = join(dir, 'damaged.npz');
    await writeFile(damaged, flipped);
    expect((await probeNpz({ file: damaged })).trainCount).toBe(20); // probe reads headers and labels only
    expect(await dataError(readNpz({ file: damaged }))).toMatch(/entry x_train\.npy: CRC-32 [0-9a-f]+, but the zip directory says [0-9a-f]+/);
  });

  it('rejects a member whose declared size disagrees with its npy header', async () => {
    const b = Buffer.from(await readFile(fx('rgb-6x10-float32-3class.npz')));
    const cd = b.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
    expect(b.readUInt32LE(cd + 24)).toBe(8768);
    b.writeUInt32LE(1000, cd + 24);
    const f = join(dir, 'short.npz');
    await writeFile(f, b);
    expect(await dataError(probeNpz({ file: f }))).toContain(
      "entry x_train.npy at byte 1000: the array has 872 data bytes, but shape (12, 6, 10, 3) of '<f4' needs 8,640: it is truncated",
    );
  });
});
