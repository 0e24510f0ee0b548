/**
 * Every source from its `data:` keys to the dataset the stages use: paths relative to the
 * experiment's folder, the reader's shape and classes, the preprocessing of the source, the
 * content hash the data stage's key is made of, and what a probe learns without decoding.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { copyFile, mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { DataConfig } from '../../src/config/types.ts';
import { hashDataSource, inputsOf, loadDataset } from '../../src/data/dataset.ts';
import { probeDataSource } from '../../src/data/probe.ts';
import { downloadDir } from '../../src/data/idx-sources.ts';
import { resolveDefaults } from '../../src/config/defaults.ts';
import { tempDir } from './formats/fixtures.ts';
import { CIFAR10_NAMES, writeCifar10, writeCifar100 } from './formats/cifar-fixtures.ts';
import { writePng } from './formats/image-fixtures.ts';
import * as imageDecode from '../../src/data/formats/image-decode.ts';

// Counts decodes: the spy wraps sharp's decoder, so a test can prove a read decoded nothing.
vi.mock('../../src/data/formats/image-decode.ts', async (original) => {
  const m = await original<typeof import('../../src/data/formats/image-decode.ts')>();
  return { ...m, sharpDecoder: vi.fn(m.sharpDecoder) };
});

const base = (over: Partial<DataConfig>): DataConfig => ({ source: 'mnist', trainLimit: null, testLimit: null, validationSplit: 0, ...over });
const NPZ = join(import.meta.dirname, '..', 'fixtures', 'npz');
const WINE = join(import.meta.dirname, '..', '..', 'data', 'wine', 'wine.csv');

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('sources'));
  await writeCifar10(join(dir, 'cifar10'), 4, 6);
  await writeCifar100(join(dir, 'cifar100'), 30, 10);
  for (const [c, name] of ['cat', 'dog', 'emu'].entries()) {
    for (let n = 0; n < 5; n++) await writePng(join(dir, 'photos', name, `${n}.png`), 6, 10, 3, c * 10 + n);
  }
  await mkdir(join(dir, 'npz'));
  await copyFile(join(NPZ, 'grey-8x8-5class.npz'), join(dir, 'npz', 'five.npz'));
  await copyFile(WINE, join(dir, 'wine.csv'));
});
afterAll(() => cleanup());

const ctx = () => ({ baseDir: dir, seed: 1, cacheDir: join(dir, '.data') });

describe('sources', () => {
  it('cifar10 from dir: 32x32x3 bytes, 10 named classes, scaled by 1/255', async () => {
    const cfg = base({ source: 'cifar10', dir: 'cifar10' });
    const d = await loadDataset(cfg, ctx());
    expect([d.inputShape, d.dtype, d.numClasses, d.train.count, d.test.count]).toEqual([[32, 32, 3], 'uint8', 10, 20, 6]);
    expect(d.classNames).toEqual(CIFAR10_NAMES);
    expect(d.preprocessing).toEqual({ scale: 1 / 255, mean: null, std: null, normalize: 'none' });
    const probe = await probeDataSource(cfg, { baseDir: dir, splitSeed: 1 });
    expect(probe).toMatchObject({ kind: 'read', info: { inputShape: [32, 32, 3], numClasses: 10, trainCount: 20, testCount: 6 } });
  });

  it('cifar100 with labels: coarse has 20 classes, and the label set is part of the content hash', async () => {
    const fine = base({ source: 'cifar100', dir: 'cifar100' });
    const coarse = { ...fine, labels: 'coarse' as const };
    expect((await loadDataset(coarse, ctx())).numClasses).toBe(20);
    expect((await loadDataset(fine, ctx())).numClasses).toBe(100);
    expect(await hashDataSource(coarse, { baseDir: dir })).not.toBe(await hashDataSource(fine, { baseDir: dir }));
  });

  it('folder: class names from the subfolders, a testSplit drawn with the split seed, non-square images', async () => {
    const cfg = base({ source: 'folder', train: 'photos', testSplit: 0.2 });
    const a = await loadDataset(cfg, { ...ctx(), splitSeed: 1 });
    expect([a.inputShape, a.classNames, a.train.count, a.test.count]).toEqual([[6, 10, 3], ['cat', 'dog', 'emu'], 12, 3]);
    expect(Array.from(a.test.y)).toEqual([0, 1, 2]);
    const b = await loadDataset(cfg, { ...ctx(), splitSeed: 2 });
    expect(Buffer.from(b.test.x).equals(Buffer.from(a.test.x))).toBe(false);
    // The hash covers the files, the split and its seed, never a decode.
    const h = (splitSeed: number) => hashDataSource(cfg, { baseDir: dir, cacheDir: join(dir, '.data'), splitSeed });
    expect(await h(1)).toBe(await h(1));
    expect(await h(1)).not.toBe(await h(2));
  });

  it('npz: the arrays of numpy.savez, classes from the labels', async () => {
    const d = await loadDataset(base({ source: 'npz', file: 'npz/five.npz' }), ctx());
    expect([d.inputShape, d.numClasses, d.classNames]).toEqual([[8, 8, 1], 5, null]);
  });

  it('csv: table rows [F] standardized per column on the training split by default; class names from the labels', async () => {
    const cfg = base({ source: 'csv', train: 'wine.csv', testSplit: 0.2, label: 'cultivar' });
    const d = await loadDataset(cfg, { ...ctx(), splitSeed: 1 });
    expect([d.inputShape, d.dtype, d.numClasses, d.train.count + d.test.count]).toEqual([[13], 'float32', 3, 178]);
    expect(d.classNames).toEqual(['cultivar_1', 'cultivar_2', 'cultivar_3']);
    expect(d.featureNames?.[12]).toBe('proline');
    expect(d.preprocessing.normalize).toBe('auto');
    // Standardized: every column of the training split has mean 0 and standard deviation 1.
    const x = inputsOf(d, d.train).range(0, d.train.count);
    for (const f of [0, 4, 12]) {
      const col = Array.from({ length: d.train.count }, (_, i) => x[i * 13 + f]);
      const mean = col.reduce((s, v) => s + v, 0) / col.length;
      const sd = Math.sqrt(col.reduce((s, v) => s + (v - mean) ** 2, 0) / col.length);
      expect(mean).toBeCloseTo(0, 5);
      expect(sd).toBeCloseTo(1, 5);
    }
    // The proline column's scale (hundreds) is gone: what standardization is for.
    expect(d.preprocessing.mean![12]).toBeGreaterThan(500);
    const raw = await loadDataset({ ...cfg, normalize: 'none' }, { ...ctx(), splitSeed: 1 });
    expect(raw.preprocessing).toEqual({ scale: 1, mean: null, std: null, normalize: 'none' });
  });
});

describe('probeDataSource of downloads not fetched yet', () => {
  it('knows CIFAR from its name and says so; an IDX download is checked when kdq run fetches it', async () => {
    const file = { url: 'http://127.0.0.1:9/cifar-10-binary.tar.gz', sha256: 'a'.repeat(64) };
    const cifar = await probeDataSource(base({ source: 'cifar100', labels: 'coarse', download: { archive: file } }), {
      baseDir: dir,
      cacheDir: join(dir, '.data'),
      splitSeed: 1,
    });
    expect(cifar).toMatchObject({ kind: 'known', known: { inputShape: [32, 32, 3], numClasses: 20 } });
    expect(cifar.kind === 'known' && cifar.note).toContain('not downloaded yet');
    const urls = Object.fromEntries(['trainImages', 'trainLabels', 'testImages', 'testLabels'].map((k) => [k, file]));
    const idx = await probeDataSource(base({ source: 'download', urls: urls as DataConfig['urls'] }), {
      baseDir: dir,
      cacheDir: join(dir, '.data'),
      splitSeed: 1,
    });
    expect(idx.kind).toBe('unknown');
  });
});

describe('a folder dataset through the decoded store', () => {
  it('reads the decoded images back from a data stage folder instead of decoding', async () => {
    const { writeDecoded, decodedCacheIn } = await import('../../src/data/decoded-store.ts');
    const decoder = vi.mocked(imageDecode.sharpDecoder);
    const cfg = base({ source: 'folder', train: 'photos', testSplit: 0.2 });
    decoder.mockClear();
    const fresh = await loadDataset(cfg, { ...ctx(), splitSeed: 1 });
    expect(decoder).toHaveBeenCalledTimes(15);
    const stage = join(dir, 'stage-out');
    await mkdir(stage);
    await writeDecoded(stage, await hashDataSource(cfg, { baseDir: dir, cacheDir: join(dir, '.data'), splitSeed: 1 }), fresh.decoded!);
    decoder.mockClear();
    const again = await loadDataset(cfg, { ...ctx(), splitSeed: 1, decodedCache: decodedCacheIn(stage) });
    expect(decoder).not.toHaveBeenCalled();
    expect(Buffer.from(again.train.x).equals(Buffer.from(fresh.train.x))).toBe(true);
    expect(again.train.y).toEqual(fresh.train.y);
    expect(again.classNames).toEqual(['cat', 'dog', 'emu']);
    // Another split seed is another key: the stored entry does not answer for it.
    decoder.mockClear();
    await loadDataset(cfg, { ...ctx(), splitSeed: 2, decodedCache: decodedCacheIn(stage) });
    expect(decoder).toHaveBeenCalledTimes(15);
  });
});

describe('where downloads are kept', () => {
  const urls = Object.fromEntries(
    ['trainImages', 'trainLabels', 'testImages', 'testLabels'].map((k) => [k, { url: `http://127.0.0.1/${k}`, sha256: 'a'.repeat(64) }]),
  );
  const raw = (data: Record<string, unknown>) => ({
    name: 'x',
    data,
    teacher: { layers: [{ type: 'dense', units: 10 }] },
    student: { layers: [{ type: 'dense', units: 10 }] },
  });

  it('is the runs folder data cache when data.cacheDir is not written, never a folder beside the experiment file', () => {
    const cfg = resolveDefaults(raw({ source: 'download', urls })).data;
    expect(cfg.cacheDir).toBeUndefined();
    expect(downloadDir(cfg, { baseDir: '/home/u/project/experiments', cacheDir: '/home/u/project/runs/.data' })).toBe('/home/u/project/runs/.data/downloads');
    expect(downloadDir(cfg, { baseDir: '/home/u/project/experiments' })).toBe(resolve('runs/.data/downloads'));
  });

  it('is data.cacheDir, relative to the experiment file, when written', () => {
    const cfg = resolveDefaults(raw({ source: 'download', urls, cacheDir: '../downloads' })).data;
    expect(cfg.cacheDir).toBe('../downloads');
    expect(downloadDir(cfg, { baseDir: '/home/u/project/experiments', cacheDir: '/home/u/project/runs/.data' })).toBe('/home/u/project/downloads');
  });
});
