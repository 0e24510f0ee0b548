/**
 * Fashion-MNIST from Debian's package dataset-fashion-mnist (listed in .ci/apt-packages): gzipped
 * IDX files. Pinned values are facts about the dataset: 6,000 / 1,000 images per class, the first
 * label (9, ankle boot) and the well-known pixel mean 0.2860.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataConfig } from '../../src/config/types.ts';
import { KdqError } from '../../src/errors.ts';
import { inputsOf, loadDataset, type Dataset } from '../../src/data/dataset.ts';
import { DEFAULT_FASHION_DIR } from '../../src/data/idx-sources.ts';

const cfg: DataConfig = { source: 'fashion-mnist', trainLimit: null, testLimit: null, validationSplit: 0 };
const installed = existsSync(DEFAULT_FASHION_DIR);
if (!installed) {
  console.warn(`skipping Fashion-MNIST tests: ${DEFAULT_FASHION_DIR} is missing (apt-get install dataset-fashion-mnist; CI installs it from .ci/apt-packages)`);
}

describe.skipIf(!installed)(`Fashion-MNIST from ${DEFAULT_FASHION_DIR}`, () => {
  let d: Dataset;
  let cacheDir: string;
  beforeAll(async () => {
    cacheDir = await mkdtemp(join(tmpdir(), 'kdq-fashion-'));
    const t0 = performance.now();
    d = await loadDataset(cfg, { baseDir: process.cwd(), seed: 1, cacheDir });
    console.log(`full Fashion-MNIST load (gzipped, cold): ${(performance.now() - t0).toFixed(0)} ms`);
  });
  afterAll(async () => {
    await rm(cacheDir, { recursive: true, force: true });
  });

  it('decodes the gzipped files: 60,000 / 10,000 images of 28 x 28, 10 balanced classes', () => {
    expect([d.inputShape, d.numClasses]).toEqual([[28, 28, 1], 10]);
    expect(d.train.x.length).toBe(60_000 * 784);
    expect(d.test.x.length).toBe(10_000 * 784);
    const h = (labels: Int32Array) => labels.reduce((acc, l) => (acc[l]++, acc), new Array<number>(10).fill(0));
    expect(h(d.train.y)).toEqual(new Array(10).fill(6000));
    expect(h(d.test.y)).toEqual(new Array(10).fill(1000));
    expect(d.train.y[0]).toBe(9);
  });

  it('has the well-known training pixel mean 0.2860', () => {
    const x = inputsOf(d, d.train).range(0, d.train.count);
    let s = 0;
    for (let i = 0; i < x.length; i++) s += x[i];
    expect(s / x.length).toBeCloseTo(0.286, 3);
  });

  it('differs from MNIST in its hash', async () => {
    const m = await loadDataset({ ...cfg, source: 'mnist', trainLimit: 10, testLimit: 10 }, { baseDir: process.cwd(), seed: 1 });
    const f = await loadDataset({ ...cfg, trainLimit: 10, testLimit: 10 }, { baseDir: process.cwd(), seed: 1, cacheDir });
    expect(f.sha256).not.toBe(m.sha256);
  });
});

describe('Fashion-MNIST folder errors', () => {
  it('says how to install it when data.dir does not exist', async () => {
    const err = await loadDataset({ ...cfg, dir: 'no/such/folder' }, { baseDir: '/tmp', seed: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KdqError);
    expect((err as KdqError).code).toBe('E_DATA');
    expect((err as Error).message).toContain("Fashion-MNIST folder '/tmp/no/such/folder' does not exist");
    expect((err as Error).message).toContain('apt-get install dataset-fashion-mnist');
  });

  it('names the missing file in a folder that lacks one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kdq-fashion-empty-'));
    try {
      const err = await loadDataset({ ...cfg, dir }, { baseDir: '/tmp', seed: 1 }).catch((e: unknown) => e);
      expect((err as KdqError).code).toBe('E_DATA');
      expect((err as Error).message).toContain('has neither train-images-idx3-ubyte.gz nor train-images-idx3-ubyte (trainImages)');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
