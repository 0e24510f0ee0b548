/**
 * Peak memory of reading a CIFAR-10-sized set (50,000 + 10,000 images of 32x32x3 uint8) through
 * the format readers. Writes the set as CIFAR-10 binary files and as IDX files in a temp folder,
 * then reads each in a fresh child process and reports its peak RSS (VmHWM) before and after the
 * read, so the difference is what the reader costs.
 *
 *     npx tsx bench/data-rss.ts
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cifarFilesInDir, readCifar } from '../src/data/formats/cifar.ts';
import { readIdxData } from '../src/data/formats/idx.ts';
import { writeCifar10Set, writeRecords } from './cifar-files.ts';

const TRAIN = 50_000;
const TEST = 10_000;

async function peakRssMiB(): Promise<number> {
  const status = await readFile('/proc/self/status', 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1]) / 1024;
}

async function writeIdx(path: string, dims: number[], body: (fh: Awaited<ReturnType<typeof open>>) => Promise<void>): Promise<void> {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = 0x08;
  header[3] = dims.length;
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  const fh = await open(path, 'w');
  try {
    await fh.write(header);
    await body(fh);
  } finally {
    await fh.close();
  }
}

async function child(format: string, dir: string): Promise<void> {
  const before = await peakRssMiB();
  const t0 = Date.now();
  const data =
    format === 'cifar10'
      ? await readCifar({ kind: 'cifar10', files: await cifarFilesInDir(dir, 'cifar10') })
      : await readIdxData({
          trainImages: join(dir, 'train-images'),
          trainLabels: join(dir, 'train-labels'),
          testImages: join(dir, 'test-images'),
          testLabels: join(dir, 'test-labels'),
        });
  const after = await peakRssMiB();
  const dataMiB = (data.train.x.byteLength + data.test.x.byteLength + data.train.y.byteLength + data.test.y.byteLength) / 2 ** 20;
  console.log(
    JSON.stringify({
      format,
      examples: data.trainCount + data.testCount,
      dataMiB: +dataMiB.toFixed(1),
      peakBeforeMiB: +before.toFixed(1),
      peakAfterMiB: +after.toFixed(1),
      seconds: (Date.now() - t0) / 1000,
    }),
  );
}

async function main(): Promise<void> {
  if (process.argv[2] === '--child') return child(process.argv[3], process.argv[4]);
  const dir = await mkdtemp(join(tmpdir(), 'kdq-data-rss-'));
  try {
    await writeCifar10Set(dir, TRAIN / 5, TEST);
    await writeIdx(join(dir, 'train-images'), [TRAIN, 32, 32, 3], async (fh) => {
      const tmp = join(dir, 'pixels.tmp');
      await writeRecords(tmp, 0, TRAIN, false);
      await fh.write(await readFile(tmp));
      await rm(tmp);
    });
    await writeIdx(join(dir, 'test-images'), [TEST, 32, 32, 3], async (fh) => {
      const tmp = join(dir, 'pixels.tmp');
      await writeRecords(tmp, TRAIN, TEST, false);
      await fh.write(await readFile(tmp));
      await rm(tmp);
    });
    await writeIdx(join(dir, 'train-labels'), [TRAIN], (fh) => fh.write(Uint8Array.from({ length: TRAIN }, (_, i) => i % 10)).then(() => undefined));
    await writeIdx(join(dir, 'test-labels'), [TEST], (fh) => fh.write(Uint8Array.from({ length: TEST }, (_, i) => i % 10)).then(() => undefined));
    const self = fileURLToPath(import.meta.url);
    for (const format of ['cifar10', 'idx']) {
      process.stdout.write(execFileSync(process.execPath, ['--import', 'tsx', self, '--child', format, dir], { encoding: 'utf8' }));
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
