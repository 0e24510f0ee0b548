/**
 * Builders of small IDX files for the data tests, written independently of src/data/formats/idx.ts so
 * that a bug in the parser cannot hide in a matching bug here.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

/** An IDX file of unsigned bytes with the given dimensions; `values` fills the body. */
export function idxBytes(dims: number[], values: ArrayLike<number>): Uint8Array {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = 0x08;
  header[3] = dims.length;
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return new Uint8Array(Buffer.concat([header, Buffer.from(Array.from(values))]));
}

/** Image n has every pixel equal to (n * 7 + pixel index) mod 256, so each image is recognisable. */
export function imagePixels(count: number, h: number, w: number, c = 1): Uint8Array {
  const per = h * w * c;
  const out = new Uint8Array(count * per);
  for (let n = 0; n < count; n++) for (let p = 0; p < per; p++) out[n * per + p] = (n * 7 + p) % 256;
  return out;
}

export function imagesIdx(count: number, h: number, w: number): Uint8Array {
  return idxBytes([count, h, w], imagePixels(count, h, w));
}

/** Label i is i mod numClasses. */
export function labelsIdx(count: number, numClasses: number): Uint8Array {
  return idxBytes(
    [count],
    Array.from({ length: count }, (_, i) => i % numClasses),
  );
}

export interface FixtureSet {
  trainImages: string;
  trainLabels: string;
  testImages: string;
  testLabels: string;
}

/** Writes a consistent four-file IDX dataset (optionally gzipped) to `dir`. */
export async function writeIdxSet(
  dir: string,
  opts: { train: number; test: number; h?: number; w?: number; classes?: number; gzip?: boolean },
): Promise<FixtureSet> {
  const h = opts.h ?? 4;
  const w = opts.w ?? 3;
  const classes = opts.classes ?? 10;
  await mkdir(dir, { recursive: true });
  const enc = (b: Uint8Array) => (opts.gzip ? gzipSync(b) : b);
  const ext = opts.gzip ? '.gz' : '';
  const files: FixtureSet = {
    trainImages: join(dir, `train-images-idx3-ubyte${ext}`),
    trainLabels: join(dir, `train-labels-idx1-ubyte${ext}`),
    testImages: join(dir, `t10k-images-idx3-ubyte${ext}`),
    testLabels: join(dir, `t10k-labels-idx1-ubyte${ext}`),
  };
  await writeFile(files.trainImages, enc(imagesIdx(opts.train, h, w)));
  await writeFile(files.trainLabels, enc(labelsIdx(opts.train, classes)));
  await writeFile(files.testImages, enc(imagesIdx(opts.test, h, w)));
  await writeFile(files.testLabels, enc(labelsIdx(opts.test, classes)));
  return files;
}
