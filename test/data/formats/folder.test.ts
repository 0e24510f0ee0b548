import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type KdqError } from '../../../src/errors.ts';
import { folderCacheKey, probeFolder, readFolder, type DecodedCache, type FolderOptions } from '../../../src/data/formats/folder.ts';
import { listFolder } from '../../../src/data/formats/folder-listing.ts';
import { sharpDecoder, type ImageDecoder } from '../../../src/data/formats/image-decode.ts';
import type { DecodedData } from '../../../src/data/formats/types.ts';
import { dataError, tempDir } from './fixtures.ts';
import { imagePixels, png, writeJpeg, writePng } from './image-fixtures.ts';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir('folder')));
afterEach(() => cleanup());

/** Writes `perClass` PNGs into each class folder under `root`; image n of class c is numbered c * 100 + n. */
async function writeClasses(root: string, classes: string[], perClass: number, h: number, w: number, ch: 1 | 3 | 4): Promise<void> {
  for (const [c, name] of classes.entries()) {
    for (let n = 0; n < perClass; n++) await writePng(join(root, name, `img-${n}.png`), h, w, ch, c * 100 + n);
  }
}

const concat = (parts: Uint8Array[]) => Buffer.concat(parts.map((p) => Buffer.from(p)));

describe('folder format', () => {
  it('reads train/ and test/ folders of 8x8 grey PNGs: 2 classes, sorted names, exact pixels, 1 channel from the header', async () => {
    await writeClasses(join(dir, 'train'), ['dog', 'cat'], 3, 8, 8, 1);
    await writeClasses(join(dir, 'test'), ['cat', 'dog'], 1, 8, 8, 1);
    const o: FolderOptions = { train: join(dir, 'train'), test: join(dir, 'test') };
    const info = await probeFolder(o);
    expect(info).toEqual({
      format: 'folder',
      inputShape: [8, 8, 1],
      dtype: 'uint8',
      numClasses: 2,
      classNames: ['cat', 'dog'],
      featureNames: null,
      trainCount: 6,
      testCount: 2,
    });
    const data = await readFolder(o);
    const { train, test, ...rest } = data;
    expect(rest).toEqual(info);
    // 'cat' is class 0 (sorted), written as the second class (numbers 100..); files in name order.
    expect(Buffer.from(train.x).equals(concat([100, 101, 102, 0, 1, 2].map((n) => imagePixels(n, 8, 8, 1))))).toBe(true);
    expect(Array.from(train.y)).toEqual([0, 0, 0, 1, 1, 1]);
    expect(Array.from(test.y)).toEqual([0, 1]);
  });

  it('reads 32x32 RGB with a seeded testSplit over 5 classes, and non-square images', async () => {
    await writeClasses(join(dir, 'five'), ['a', 'b', 'c', 'd', 'e'], 4, 32, 32, 3);
    const o: FolderOptions = { train: join(dir, 'five'), testSplit: 0.25, seed: 3 };
    const data = await readFolder(o);
    expect([data.inputShape, data.trainCount, data.testCount]).toEqual([[32, 32, 3], 15, 5]);
    expect(Array.from(data.test.y)).toEqual([0, 1, 2, 3, 4]);
    expect((await probeFolder(o)).testCount).toBe(5);
    const listing = await listFolder(o);
    const n = Number(/img-(\d)/.exec(listing.test[2].rel)?.[1]);
    expect(Buffer.from(data.test.x.subarray(2 * 3072, 3 * 3072)).equals(Buffer.from(imagePixels(200 + n, 32, 32, 3)))).toBe(true);

    await writeClasses(join(dir, 'wide'), ['x', 'y'], 2, 6, 10, 3);
    const wide = await readFolder({ train: join(dir, 'wide'), testSplit: 0.5 });
    expect(wide.inputShape).toEqual([6, 10, 3]);
    const firstOfX = Buffer.from(wide.train.x.subarray(0, 180));
    expect([0, 1].some((n) => firstOfX.equals(Buffer.from(imagePixels(n, 6, 10, 3))))).toBe(true);
  });

  it('reads 100 classes', async () => {
    const names = Array.from({ length: 100 }, (_, i) => `class-${String(i).padStart(3, '0')}`);
    await writeClasses(join(dir, 'many'), names, 2, 4, 4, 1);
    const data = await readFolder({ train: join(dir, 'many'), testSplit: 0.5 });
    expect([data.numClasses, data.trainCount, data.testCount, data.classNames?.[99]]).toEqual([100, 100, 100, 'class-099']);
  });

  it('resizes mixed sizes with imageSize, converts channels either way, and composites alpha over black', async () => {
    await writePng(join(dir, 'mixed', 'a', '1.png'), 8, 8, 3, 1);
    await writePng(join(dir, 'mixed', 'b', '2.png'), 12, 5, 3, 2);
    await writeJpeg(join(dir, 'mixed', 'b', '3.jpg'), 20, 20, [200, 40, 10]);
    const resized = await readFolder({ train: join(dir, 'mixed'), testSplit: 0.5, imageSize: [4, 6] });
    expect([resized.inputShape, resized.trainCount + resized.testCount]).toEqual([[4, 6, 3], 3]);

    // A flat JPEG stays flat through resizing and compression, within a few levels.
    const jpeg = await sharpDecoder(join(dir, 'mixed', 'b', '3.jpg'), { channels: 3, size: [4, 6] });
    expect(Math.abs(jpeg.data[0] - 200) + Math.abs(jpeg.data[1] - 40) + Math.abs(jpeg.data[2] - 10)).toBeLessThan(12);

    // Grey to RGB repeats the value; RGB to grey is one channel.
    await writePng(join(dir, 'g.png'), 2, 2, 1, 9);
    const rgb = await sharpDecoder(join(dir, 'g.png'), { channels: 3 });
    const grey = imagePixels(9, 2, 2, 1);
    expect(Array.from(rgb.data)).toEqual(Array.from(grey).flatMap((v) => [v, v, v]));
    expect((await sharpDecoder(join(dir, 'mixed', 'a', '1.png'), { channels: 1 })).data.length).toBe(64);
    // RGB to grey is luminance on linear light, sRGB-encoded back (what an app must reproduce).
    await writeFile(join(dir, 'rgb.png'), png(1, 3, 3, Uint8Array.from([255, 0, 0, 0, 255, 0, 0, 0, 255])));
    expect(Array.from((await sharpDecoder(join(dir, 'rgb.png'), { channels: 1 })).data)).toEqual([127, 220, 76]);

    await mkdir(join(dir, 'alpha'));
    await writeFile(join(dir, 'alpha', 'a.png'), png(1, 2, 4, Uint8Array.from([255, 128, 64, 255, 255, 128, 64, 0])));
    expect(Array.from((await sharpDecoder(join(dir, 'alpha', 'a.png'), { channels: 3 })).data)).toEqual([255, 128, 64, 0, 0, 0]);
  });

  it('rejects images of mixed sizes without imageSize, naming the file and both sizes', async () => {
    await writeClasses(join(dir, 'd'), ['a', 'b'], 2, 8, 8, 1);
    await writePng(join(dir, 'd', 'b', 'img-1.png'), 9, 8, 1, 5);
    const msg = await dataError(readFolder({ train: join(dir, 'd'), testSplit: 0.5 }));
    expect(msg).toBe(
      `'${join(dir, 'd', 'b', 'img-1.png')}': the image is 9x8 (height x width), but '${join(dir, 'd', 'a', 'img-0.png')}' is 8x8; ` +
        'images of different sizes need imageSize: [H, W] to resize them all to one size',
    );
  });

  it('rejects unreadable and truncated images, naming the file; a probe reads only the first header', async () => {
    await writeClasses(join(dir, 'd'), ['a', 'b'], 2, 8, 8, 3);
    const bad = join(dir, 'd', 'b', 'img-1.png');
    await writeFile(bad, 'not a png at all');
    expect((await probeFolder({ train: join(dir, 'd'), testSplit: 0.5 })).trainCount).toBe(2);
    expect(await dataError(readFolder({ train: join(dir, 'd'), testSplit: 0.5 }))).toBe(
      `'${bad}': the image cannot be decoded (Input file contains unsupported image format); replace or delete the file (kdq reads PNG and JPEG files)`,
    );
    const good = png(8, 8, 3, imagePixels(1, 8, 8, 3));
    await writeFile(bad, good.subarray(0, good.length / 2));
    expect(await dataError(readFolder({ train: join(dir, 'd'), testSplit: 0.5 }))).toContain(`'${bad}': the image cannot be decoded (`);
    await writeFile(join(dir, 'd', 'a', 'img-0.png'), 'garbage');
    expect(await dataError(probeFolder({ train: join(dir, 'd'), testSplit: 0.5 }))).toContain(
      `'${join(dir, 'd', 'a', 'img-0.png')}': the image cannot be decoded`,
    );
  });

  it('rejects bad layouts: an empty class folder, one class, an image outside class folders, nested folders, test classes that differ', async () => {
    await writeClasses(join(dir, 'd'), ['a', 'b'], 1, 4, 4, 1);
    await mkdir(join(dir, 'd', 'empty'));
    await writeFile(join(dir, 'd', 'empty', 'notes.txt'), 'x');
    expect(await dataError(probeFolder({ train: join(dir, 'd'), testSplit: 0.5 }))).toBe(
      `'${join(dir, 'd', 'empty')}': the class folder holds no images: its 1 file(s) are not .png, .jpg, .jpeg; add images of this class, or delete the folder`,
    );
    await writeClasses(join(dir, 'one'), ['a'], 3, 4, 4, 1);
    expect(await dataError(probeFolder({ train: join(dir, 'one'), testSplit: 0.5 }))).toContain('found 1 class subfolder(s), expected at least 2');
    await writeClasses(join(dir, 's'), ['a', 'b'], 1, 4, 4, 1);
    await writePng(join(dir, 's', 'stray.png'), 4, 4, 1, 0);
    expect(await dataError(probeFolder({ train: join(dir, 's'), testSplit: 0.5 }))).toContain(
      `'${join(dir, 's', 'stray.png')}': an image directly in the dataset folder`,
    );
    await writeClasses(join(dir, 'n'), ['a', 'b'], 1, 4, 4, 1);
    await writePng(join(dir, 'n', 'a', 'deeper', 'x.png'), 4, 4, 1, 0);
    expect(await dataError(probeFolder({ train: join(dir, 'n'), testSplit: 0.5 }))).toContain(
      `'${join(dir, 'n', 'a', 'deeper')}': a folder inside a class folder`,
    );
    await writeClasses(join(dir, 'tr'), ['a', 'b'], 1, 4, 4, 1);
    await writeClasses(join(dir, 'te'), ['a', 'c'], 1, 4, 4, 1);
    expect(await dataError(probeFolder({ train: join(dir, 'tr'), test: join(dir, 'te') }))).toBe(
      `'${join(dir, 'te')}': the test folder lacks b and has classes the training folder lacks: c; both folders need the same class subfolders (the training folder has a, b)`,
    );
    expect(await dataError(probeFolder({ train: join(dir, 'missing'), testSplit: 0.5 }))).toContain(`'${join(dir, 'missing')}' does not exist`);
    const err = await probeFolder({ train: join(dir, 'tr') }).catch((e: KdqError) => e);
    expect((err as KdqError).code).toBe('E_CONFIG');
  });
});

describe('folder decode cache', () => {
  class MapCache implements DecodedCache {
    readonly entries = new Map<string, DecodedData>();
    async get(key: string) {
      return this.entries.get(key) ?? null;
    }
    async put(key: string, data: DecodedData) {
      this.entries.set(key, data);
    }
  }
  const counting = () => {
    const c: { calls: number; decode: ImageDecoder } = { calls: 0, decode: async (p, t) => (c.calls++, sharpDecoder(p, t)) };
    return c;
  };

  it('decodes once: a rerun on the same content hits the cache and decodes nothing; one changed byte misses', async () => {
    await writeClasses(join(dir, 'd'), ['a', 'b'], 3, 8, 8, 3);
    const o: FolderOptions = { train: join(dir, 'd'), testSplit: 0.34, seed: 1 };
    const cache = new MapCache();
    const first = counting();
    const a = await readFolder(o, { cache, decode: first.decode });
    expect(first.calls).toBe(6);
    const second = counting();
    const b = await readFolder(o, { cache, decode: second.decode });
    expect(second.calls).toBe(0);
    expect(b).toBe(a);

    // Moving the folder keeps the key (paths in the key are relative).
    await cp(join(dir, 'd'), join(dir, 'moved'), { recursive: true });
    const moved = counting();
    await readFolder({ ...o, train: join(dir, 'moved') }, { cache, decode: moved.decode });
    expect(moved.calls).toBe(0);

    // Same size and name, other pixels: a new key.
    const f = join(dir, 'd', 'b', 'img-2.png');
    await writeFile(f, png(8, 8, 3, imagePixels(77, 8, 8, 3)));
    const third = counting();
    await readFolder(o, { cache, decode: third.decode });
    expect(third.calls).toBe(6);
    expect(cache.entries.size).toBe(2);
  });

  it('keys on the settings that change pixels or the split, and explains itself', async () => {
    await writeClasses(join(dir, 'd'), ['a', 'b'], 2, 8, 8, 1);
    const o: FolderOptions = { train: join(dir, 'd'), testSplit: 0.5 };
    const listing = await listFolder(o);
    const digests = { train: ['1', '2'], test: ['3', '4'] };
    const key = (over: Partial<FolderOptions>, channels: 1 | 3 = 1, size: [number, number] = [8, 8]) =>
      folderCacheKey({ ...o, ...over }, listing, digests, { channels, size });
    const base = key({});
    expect(base.details).toEqual({
      reader: 1,
      settings: { imageSize: [8, 8], channels: 1, imageSizeGiven: false, testSplit: 0.5, seed: 0 },
      trainFiles: 2,
      testFiles: 2,
      listing: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    const others = [
      key({}, 3),
      key({ imageSize: [8, 8] }),
      key({ seed: 2 }),
      key({ testSplit: 0.3 }),
      folderCacheKey(o, listing, { ...digests, test: ['3', '5'] }, { channels: 1, size: [8, 8] }),
    ];
    for (const k of others) expect(k.value).not.toBe(base.value);
    expect(key({}).value).toBe(base.value);
    expect(await readFile(listing.train[0].path)).toBeTruthy();
  });
});
