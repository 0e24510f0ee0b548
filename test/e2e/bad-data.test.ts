/**
 * Bad data files through the command line, one or more per format: `kdq run` exits 2 with one
 * line naming the file and the place in it (byte, record, line and column, zip entry), trains
 * nothing, caches nothing and publishes no run folder. What a probe can see (headers, sizes,
 * label files, a listing, the CSV) `kdq validate` already reports, with the same message; what
 * only a full read finds (an undecodable image, a label deep in a record) stops the data stage.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFile, mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { main } from '../../src/cli.ts';
import { Cache } from '../../src/pipeline/cache.ts';
import { sink } from '../capture.ts';
import { cyclicLabels, idx, pattern, tempDir } from '../data/formats/fixtures.ts';
import { png } from '../data/formats/image-fixtures.ts';
import { createRng } from '../../src/util/random.ts';

const NPZ = join(import.meta.dirname, '..', 'fixtures', 'npz');
let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir('bad-data')));
afterAll(() => cleanup());

const flat = (units: number) => `
teacher: { layers: [ { type: flatten }, { type: dense, units: ${units} } ], training: { epochs: 1 } }
student: { layers: [ { type: flatten }, { type: dense, units: ${units} } ], training: { epochs: 1 } }
quantization: { calibrationSamples: 4 }`;
const dense = (units: number) => `
teacher: { layers: [ { type: dense, units: ${units} } ], training: { epochs: 1 } }
student: { layers: [ { type: dense, units: ${units} } ], training: { epochs: 1 } }
quantization: { calibrationSamples: 4 }`;

/** Writes a good 3-class IDX set of 4x4 images into `d`; `bad` replaces one file. */
async function idxSet(d: string, bad: Partial<Record<'tx' | 'ty' | 'sx' | 'sy', Buffer>> = {}): Promise<string> {
  await mkdir(d, { recursive: true });
  const files = {
    tx: idx([12, 4, 4], pattern(12, 16)),
    ty: idx([12], cyclicLabels(12, 3)),
    sx: idx([6, 4, 4], pattern(6, 16)),
    sy: idx([6], cyclicLabels(6, 3)),
    ...bad,
  };
  for (const [k, b] of Object.entries(files)) await writeFile(join(d, k), b);
  return `data:\n  source: idx\n  files: { trainImages: tx, trainLabels: ty, testImages: sx, testLabels: sy }\n${flat(3)}`;
}

/** A CIFAR-10 folder: 2 records per training file, 2 test records; `patch` edits one file's bytes. */
async function cifarSet(d: string, patch: (name: string, b: Buffer) => Buffer): Promise<string> {
  await mkdir(d, { recursive: true });
  const records = (first: number) => Buffer.concat([0, 1].map((i) => Buffer.concat([Buffer.from([(first + i) % 10]), Buffer.alloc(3072, 7)])));
  for (let b = 1; b <= 5; b++) await writeFile(join(d, `data_batch_${b}.bin`), patch(`data_batch_${b}.bin`, records(b)));
  await writeFile(join(d, 'test_batch.bin'), patch('test_batch.bin', records(0)));
  return `data:\n  source: cifar10\n  dir: .\n${flat(10)}`;
}

/** A folder of two classes of 4x4 PNGs; `extra` adds or replaces files (name -> bytes). */
async function folderSet(d: string, extra: Record<string, Buffer>): Promise<string> {
  for (const c of ['a', 'b']) {
    await mkdir(join(d, 'photos', c), { recursive: true });
    for (let i = 0; i < 4; i++) await writeFile(join(d, 'photos', c, `${i}.png`), png(4, 4, 3, new Uint8Array(48).fill(40 + 80 * i)));
  }
  for (const [name, b] of Object.entries(extra)) await writeFile(join(d, 'photos', name), b);
  return `data:\n  source: folder\n  train: photos\n  testSplit: 0.25\n${flat(2)}`;
}

async function csvSet(d: string, text: string): Promise<string> {
  await mkdir(d, { recursive: true });
  await writeFile(join(d, 'table.csv'), text);
  return `data:\n  source: csv\n  train: table.csv\n  testSplit: 0.25\n${dense(2)}`;
}

const csvRows = (bad: string) => `a,b,label\n${Array.from({ length: 8 }, (_, i) => (i === 5 ? bad : `${i},${i * 2},${i % 2}`)).join('\n')}\n`;

interface Case {
  name: string;
  make: (d: string) => Promise<string>;
  /** Fragments of the one error line. */
  says: (d: string) => string[];
  /** True when a probe sees the problem, so `kdq validate` reports it too. */
  probe: boolean;
}

const CASES: Case[] = [
  {
    name: 'idx truncated',
    make: (d) => idxSet(d, { tx: idx([12, 4, 4], pattern(12, 16)).subarray(0, 100) }),
    says: (d) => [`'${join(d, 'tx')}' at byte 100: the file ends here, but its header (12 x 4 x 4, uint8) promises 208 bytes`],
    probe: true,
  },
  {
    name: 'idx counts that disagree',
    make: (d) => idxSet(d, { ty: idx([11], cyclicLabels(11, 3)) }),
    says: (d) => [`'${join(d, 'ty')}' at byte 4: holds 11 labels, but '${join(d, 'tx')}' holds 12 images`],
    probe: true,
  },
  {
    name: 'idx gzipped and corrupt past its header',
    make: (d) => {
      // Incompressible pixels, so the deflate stream is long and its start (the header) inflates fine.
      const rng = createRng(5);
      const noise = Uint8Array.from({ length: 12 * 40 * 40 }, () => Math.floor(rng() * 256));
      const gz = gzipSync(idx([12, 40, 40], noise));
      gz[Math.floor(gz.length / 2)] ^= 0xff;
      return idxSet(d, { tx: gz, sx: idx([6, 40, 40], noise.subarray(0, 6 * 1600)) });
    },
    says: (d) => [`'${join(d, 'tx')}'`],
    probe: false,
  },
  {
    name: 'cifar10 file cut short',
    make: (d) => cifarSet(d, (name, b) => (name === 'data_batch_3.bin' ? b.subarray(0, 3073 + 100) : b)),
    says: (d) => [`'${join(d, 'data_batch_3.bin')}' at record 1 (byte 3073): the file is 3,173 bytes, not a whole number of 3,073-byte cifar10 records`],
    probe: true,
  },
  {
    name: 'cifar10 label out of range',
    make: (d) =>
      cifarSet(d, (name, b) => {
        if (name === 'test_batch.bin') b[3073] = 12;
        return b;
      }),
    says: (d) => [`'${join(d, 'test_batch.bin')}' at record 1 (byte 3073): class 12, expected 0..9`],
    probe: false,
  },
  {
    name: 'folder with an image that does not decode',
    make: (d) => folderSet(d, { 'b/3.png': Buffer.from('not a png') }),
    says: (d) => [`'${join(d, 'photos', 'b', '3.png')}': the image cannot be decoded`],
    probe: false,
  },
  {
    name: 'folder with images of mixed sizes and no imageSize',
    make: (d) => folderSet(d, { 'b/2.png': png(5, 4, 3, new Uint8Array(60)) }),
    says: (d) => [
      `'${join(d, 'photos', 'b', '2.png')}': the image is 5x4 (height x width), but '${join(d, 'photos', 'a', '0.png')}' is 4x4`,
      'imageSize: [H, W]',
    ],
    probe: false,
  },
  {
    name: 'npz without y_test',
    make: async (d) => {
      await mkdir(d, { recursive: true });
      await copyFile(join(NPZ, 'no-y-test.npz'), join(d, 'set.npz'));
      return `data:\n  source: npz\n  file: set.npz\n${flat(5)}`;
    },
    says: (d) => [`'${join(d, 'set.npz')}': lacks y_test`],
    probe: true,
  },
  {
    name: 'npz labels out of range',
    make: async (d) => {
      await mkdir(d, { recursive: true });
      await copyFile(join(NPZ, 'test-label-out-of-range.npz'), join(d, 'set.npz'));
      return `data:\n  source: npz\n  file: set.npz\n${flat(5)}`;
    },
    says: (d) => [`'${join(d, 'set.npz')}' entry y_test.npy at byte`, 'expected 0..'],
    probe: true,
  },
  {
    name: 'csv ragged row',
    make: (d) => csvSet(d, csvRows('5,10')),
    says: (d) => [`'${join(d, 'table.csv')}' line 7: the row has 2 fields, expected 3`],
    probe: true,
  },
  {
    name: 'csv value that is not a number',
    make: (d) => csvSet(d, csvRows('5,n/a,1')),
    says: (d) => [`'${join(d, 'table.csv')}' line 7, column 'b': 'n/a' is not a number`],
    probe: true,
  },
];

async function kdq(...argv: string[]): Promise<{ code: number; err: string }> {
  const err = sink();
  const code = await main(argv, { stdout: sink().stream, stderr: err.stream });
  return { code, err: err.text() };
}

describe.each(CASES)('$name', ({ name, make, says, probe }) => {
  it(
    `kdq run exits 2 naming the file and the place, before any training; nothing cached or published${probe ? '; kdq validate says the same' : ''}`,
    { timeout: 300_000 },
    async () => {
      const d = join(dir, name.replace(/\W+/g, '-'));
      const data = await make(d);
      const file = join(d, 'x.yaml');
      await writeFile(file, `name: bad-data\n${data}\n`);
      const runsDir = join(d, 'runs');
      const r = await kdq('run', file, '--runs-dir', runsDir);
      expect(r.code).toBe(2);
      for (const s of says(d)) expect(r.err).toContain(s);
      expect(r.err).not.toMatch(/teacher@s1: running|\n\s+at |internal error/);
      expect(await new Cache(join(runsDir, '.cache')).list()).toEqual([]);
      expect((await readdir(runsDir).catch(() => [] as string[])).filter((n) => !n.startsWith('.'))).toEqual([]);
      const v = await kdq('validate', file);
      expect(v.code).toBe(probe ? 2 : 0);
      if (probe) for (const s of says(d)) expect(v.err).toContain(s);
    },
  );
});
