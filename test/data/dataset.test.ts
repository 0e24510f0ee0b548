import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readFile, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { DataConfig } from '../../src/config/types.ts';
import { KdqError } from '../../src/errors.ts';
import { DATA_SOURCES, IDX_FILES } from '../../src/names.ts';
import { datasetHash, hashDataSource, inputsOf, loadDataset, sourceHashOf } from '../../src/data/dataset.ts';
import { SOURCES } from '../../src/data/sources.ts';
import { idxBytes, imagePixels, labelsIdx, writeIdxSet, type FixtureSet } from './idx-fixtures.ts';

let root: string;
let plain: FixtureSet;
let gz: FixtureSet;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'kdq-dataset-'));
  plain = await writeIdxSet(join(root, 'plain'), { train: 50, test: 20, h: 4, w: 3, classes: 5 });
  gz = await writeIdxSet(join(root, 'gz'), { train: 50, test: 20, h: 4, w: 3, classes: 5, gzip: true });
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** An `idx` config with paths relative to `root` (as an experiment file in `root` would write them). */
function idxConfig(files: FixtureSet, over: Partial<DataConfig> = {}): DataConfig {
  const rel = Object.fromEntries(IDX_FILES.map((k) => [k, files[k].slice(root.length + 1)])) as DataConfig['files'];
  return { source: 'idx', files: rel, trainLimit: null, testLimit: null, validationSplit: 0, ...over };
}

async function rejects(p: Promise<unknown>, code: string): Promise<string> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(KdqError);
  expect((err as KdqError).code).toBe(code);
  return (err as Error).message;
}

describe('sources', () => {
  it('has a definition for every name in DATA_SOURCES and no other', () => {
    expect(Object.keys(SOURCES).sort()).toEqual([...DATA_SOURCES].sort());
  });
});

describe('loadDataset (idx)', () => {
  it('decodes plain files relative to baseDir, keeps bytes as bytes, scales per batch to [0, 1], with inferred class count', async () => {
    const d = await loadDataset(idxConfig(plain), { baseDir: root, seed: 1 });
    expect([d.inputShape, d.numClasses, d.dtype]).toEqual([[4, 3, 1], 5, 'uint8']);
    expect(d.train.x).toBeInstanceOf(Uint8Array);
    expect(d.train.x.length).toBe(50 * 12);
    expect(d.test.x.length).toBe(20 * 12);
    expect(Array.from(d.train.x.subarray(0, 24))).toEqual(Array.from(imagePixels(2, 4, 3)));
    expect(d.preprocessing).toEqual({ scale: 1 / 255, mean: null, std: null, normalize: 'none' });
    expect(Array.from(inputsOf(d, d.train).range(0, 2))).toEqual(Array.from(imagePixels(2, 4, 3), (v) => Math.fround(v / 255)));
    expect(Array.from(d.train.y.subarray(0, 7))).toEqual([0, 1, 2, 3, 4, 0, 1]);
    expect(d.test.count).toBe(20);
    expect(d.validation).toBeUndefined();
    expect(d.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('gives the same data from gzipped files, but a different hash (the files differ)', async () => {
    const a = await loadDataset(idxConfig(plain), { baseDir: root, seed: 1 });
    const b = await loadDataset(idxConfig(gz), { baseDir: root, seed: 1 });
    expect(b.train.x).toEqual(a.train.x);
    expect(b.test.y).toEqual(a.test.y);
    expect(b.sha256).not.toBe(a.sha256);
  });

  it('dataset hash = the four digests, limits and split, computed from the files', async () => {
    const cfg = idxConfig(plain, { trainLimit: 30 });
    const d = await loadDataset(cfg, { baseDir: root, seed: 1 });
    const digest = async (p: string) =>
      createHash('sha256')
        .update(await readFile(p))
        .digest('hex');
    const digests = Object.fromEntries(await Promise.all(IDX_FILES.map(async (k) => [k, await digest(plain[k])]))) as Record<
      (typeof IDX_FILES)[number],
      string
    >;
    expect(d.sha256).toBe(datasetHash(sourceHashOf(digests), cfg, 1));
    expect(await hashDataSource(cfg, { baseDir: root })).toBe(sourceHashOf(digests));
  });

  it('takes the first N with trainLimit / testLimit, and the hash follows the limits', async () => {
    const all = await loadDataset(idxConfig(plain), { baseDir: root, seed: 1 });
    const d = await loadDataset(idxConfig(plain, { trainLimit: 7, testLimit: 3 }), { baseDir: root, seed: 1 });
    expect(d.train.count).toBe(7);
    expect(d.train.x).toEqual(all.train.x.subarray(0, 7 * 12));
    expect(d.test.x).toEqual(all.test.x.subarray(0, 3 * 12));
    expect(d.sha256).not.toBe(all.sha256);
    // A limit past the end keeps everything.
    const big = await loadDataset(idxConfig(plain, { trainLimit: 10_000 }), { baseDir: root, seed: 1 });
    expect(big.train.count).toBe(50);
    // Without a split, the seed does not change the data, so neither the hash.
    expect((await loadDataset(idxConfig(plain), { baseDir: root, seed: 99 })).sha256).toBe(all.sha256);
  });

  it('holds out a seeded validation fraction of the (limited) training set', async () => {
    const cfg = idxConfig(plain, { trainLimit: 40, validationSplit: 0.25 });
    const a = await loadDataset(cfg, { baseDir: root, seed: 7 });
    const b = await loadDataset(cfg, { baseDir: root, seed: 7 });
    const c = await loadDataset(cfg, { baseDir: root, seed: 8 });
    expect(a.train.count).toBe(30);
    expect(a.validation?.count).toBe(10);
    expect(a.validation?.x.length).toBe(10 * 12);
    expect(b.validation).toEqual(a.validation);
    expect(b.train.x).toEqual(a.train.x);
    expect(b.sha256).toBe(a.sha256);
    expect(c.validation?.x).not.toEqual(a.validation?.x);
    expect(c.sha256).not.toBe(a.sha256);
    // Every image of the first 40 is in exactly one part. Image n's first pixel is 7n mod 256, and
    // 183 is 7's inverse mod 256, so n = 183 * pixel mod 256.
    const firsts = (imgs: ArrayLike<number>) => Array.from({ length: imgs.length / 12 }, (_, i) => (imgs[i * 12] * 183) % 256);
    const ids = [...firsts(a.train.x), ...firsts(a.validation!.x)].sort((x, y) => x - y);
    expect(ids).toEqual(Array.from({ length: 40 }, (_, i) => i));
    // Labels travel with their images (label n = n mod 5).
    firsts(a.validation!.x).forEach((n, j) => expect(a.validation!.y[j]).toBe(n % 5));
  });

  it('rejects a test label the training labels do not have', async () => {
    const dir = join(root, 'bad-label');
    const f = await writeIdxSet(dir, { train: 10, test: 4, classes: 3 });
    await writeFile(f.testLabels, idxBytes([4], [0, 1, 3, 2]));
    const msg = await rejects(loadDataset(idxConfig(f), { baseDir: root, seed: 1 }), 'E_DATA');
    expect(msg).toContain(`'${f.testLabels}' at byte 10: label 3 of example 2, expected 0..2 (3 classes, the largest training label is 2)`);
  });

  it('rejects a count mismatch between images and labels', async () => {
    const dir = join(root, 'mismatch');
    const f = await writeIdxSet(dir, { train: 10, test: 4 });
    await writeFile(f.trainLabels, labelsIdx(9, 10));
    const msg = await rejects(loadDataset(idxConfig(f), { baseDir: root, seed: 1 }), 'E_DATA');
    expect(msg).toContain(`'${f.trainLabels}' at byte 4: holds 9 labels, but '${f.trainImages}' holds 10 images`);
  });

  it('rejects train and test images of different sizes', async () => {
    const dir = join(root, 'sizes');
    const f = await writeIdxSet(dir, { train: 10, test: 4, h: 4, w: 3 });
    await writeFile(f.testImages, idxBytes([4, 3, 4], imagePixels(4, 3, 4)));
    const msg = await rejects(loadDataset(idxConfig(f), { baseDir: root, seed: 1 }), 'E_DATA');
    expect(msg).toContain(`'${f.testImages}' at byte 4: holds 3 x 4 x 1 uint8 images, but the training images`);
    expect(msg).toContain('are 4 x 3 x 1 uint8');
  });

  it('rejects a truncated gzipped file and a swapped pair, naming the file', async () => {
    const dir = join(root, 'corrupt');
    const f = await writeIdxSet(dir, { train: 10, test: 4, gzip: true });
    const good = await readFile(f.trainImages);
    await writeFile(f.trainImages, good.subarray(0, good.length - 8));
    expect(await rejects(loadDataset(idxConfig(f), { baseDir: root, seed: 1 }), 'E_DATA')).toContain(`'${f.trainImages}'`);
    await writeFile(f.trainImages, good);
    const swapped = idxConfig(f);
    [swapped.files!.testImages, swapped.files!.testLabels] = [swapped.files!.testLabels, swapped.files!.testImages];
    expect(await rejects(loadDataset(swapped, { baseDir: root, seed: 1 }), 'E_DATA')).toContain('swapped');
  });

  it('names a missing file, its role and the fix', async () => {
    const cfg = idxConfig(plain);
    cfg.files!.trainLabels = 'nowhere/labels.idx';
    const msg = await rejects(loadDataset(cfg, { baseDir: root, seed: 1 }), 'E_DATA');
    expect(msg).toBe(`idx trainLabels '${join(root, 'nowhere/labels.idx')}' does not exist; check data.files in the experiment file`);
  });

  it('asks for data.files when it is missing', async () => {
    const msg = await rejects(loadDataset({ source: 'idx', trainLimit: null, testLimit: null, validationSplit: 0 }, { baseDir: root, seed: 1 }), 'E_CONFIG');
    expect(msg).toContain("data.source is 'idx' but data.files is missing");
  });
});

describe('hashDataSource', () => {
  it('second call costs a stat: the digest index answers and the files are not read', async () => {
    const dir = join(root, 'memo');
    const f = await writeIdxSet(dir, { train: 10, test: 4 });
    // Whole-second mtimes, so that restoring them below gives back exactly the same mtimeMs.
    const t = new Date(Math.floor(Date.now() / 1000) * 1000 - 10_000);
    for (const k of IDX_FILES) await utimes(f[k], t, t);
    const cacheDir = join(root, 'memo-cache');
    const cfg = idxConfig(f);
    const first = await hashDataSource(cfg, { baseDir: root, cacheDir });
    // Same size, same mtime, other bytes: only a call that reads the file would notice.
    await writeFile(f.trainImages, idxBytes([10, 4, 3], new Uint8Array(120).fill(9)));
    await utimes(f.trainImages, t, t);
    expect(await hashDataSource(cfg, { baseDir: root, cacheDir })).toBe(first);
    // A touched file is hashed again.
    const later = new Date(t.getTime() + 2000);
    await utimes(f.trainImages, later, later);
    expect(await hashDataSource(cfg, { baseDir: root, cacheDir })).not.toBe(first);
  });

  it('for downloads is the declared digests: no file, no network', async () => {
    const urls = Object.fromEntries(IDX_FILES.map((k, i) => [k, { url: `http://127.0.0.1:9/${k}`, sha256: String(i).repeat(64) }]));
    const cfg: DataConfig = { source: 'download', urls: urls as DataConfig['urls'], trainLimit: null, testLimit: null, validationSplit: 0 };
    const expected = sourceHashOf(Object.fromEntries(IDX_FILES.map((k, i) => [k, String(i).repeat(64)])) as Record<(typeof IDX_FILES)[number], string>);
    expect(await hashDataSource(cfg, { baseDir: root })).toBe(expected);
  });
});

describe('loadDataset (download)', () => {
  let server: Server;
  let base: string;
  const served = new Map<string, Uint8Array>();
  const hits: string[] = [];
  beforeAll(async () => {
    const train = 30;
    served.set('/train-images.gz', gzipSync(idxBytes([train, 4, 3], imagePixels(train, 4, 3))));
    served.set('/train-labels.gz', gzipSync(labelsIdx(train, 10)));
    served.set('/t10k-images', idxBytes([6, 4, 3], imagePixels(6, 4, 3)));
    served.set('/t10k-labels', labelsIdx(6, 10));
    server = createServer((req, res) => {
      hits.push(req.url ?? '');
      const b = served.get(req.url ?? '');
      if (!b) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-length': b.length }).end(b);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const paths: Record<(typeof IDX_FILES)[number], string> = {
    trainImages: '/train-images.gz',
    trainLabels: '/train-labels.gz',
    testImages: '/t10k-images',
    testLabels: '/t10k-labels',
  };
  function downloadConfig(over: Partial<Record<(typeof IDX_FILES)[number], string>> = {}): DataConfig {
    const urls = Object.fromEntries(
      IDX_FILES.map((k) => [k, { url: `${base}${paths[k]}`, sha256: over[k] ?? createHash('sha256').update(served.get(paths[k])!).digest('hex') }]),
    );
    return { source: 'download', urls: urls as DataConfig['urls'], cacheDir: 'downloads', trainLimit: null, testLimit: null, validationSplit: 0 };
  }

  it('fetches, verifies and decodes the four files, then reuses the cache', async () => {
    const baseDir = await mkdtemp(join(tmpdir(), 'kdq-dl-set-'));
    try {
      hits.length = 0;
      const cfg = downloadConfig();
      const d = await loadDataset(cfg, { baseDir, seed: 3 });
      expect(d.train.count).toBe(30);
      expect(d.test.count).toBe(6);
      expect(d.numClasses).toBe(10);
      expect(hits.sort()).toEqual(Object.values(paths).sort());
      const files = await readdir(join(baseDir, 'downloads'));
      expect(files.filter((n) => !n.startsWith('.') && n.endsWith('-train-images.gz'))).toHaveLength(1);
      // Second load: no request, same data and hash; and the hash matches hashDataSource's.
      const again = await loadDataset(cfg, { baseDir, seed: 3 });
      expect(hits).toHaveLength(4);
      expect(again.sha256).toBe(d.sha256);
      expect(d.sha256).toBe(datasetHash(await hashDataSource(cfg, { baseDir }), cfg, 3));
    } finally {
      await rm(baseDir, { recursive: true, force: true });
    }
  });

  it('stops at a file whose digest is wrong, naming it, and caches nothing for it', async () => {
    const baseDir = await mkdtemp(join(tmpdir(), 'kdq-dl-set-'));
    try {
      const wrong = 'f'.repeat(64);
      const msg = await rejects(loadDataset(downloadConfig({ testImages: wrong }), { baseDir, seed: 3 }), 'E_DATA');
      expect(msg).toContain('data.urls.testImages');
      expect(msg).toContain(`${base}/t10k-images`);
      expect(msg).toContain(`expected ${wrong}`);
      const left = await readdir(join(baseDir, 'downloads'));
      expect(left.some((n) => n.includes('t10k-images'))).toBe(false);
      expect(left.some((n) => n.startsWith('.'))).toBe(false);
      expect(left.map((n) => basename(n)).filter((n) => n.endsWith('train-images.gz'))).toHaveLength(1);
    } finally {
      await rm(baseDir, { recursive: true, force: true });
    }
  });
});
