/**
 * A folder of images, one subfolder per class (folder-listing.ts), decoded to NHWC uint8 with
 * sharp (image-decode.ts). A probe lists the folders and reads one image header; a read decodes
 * every file, which is slow, so it goes through a cache of decoded datasets keyed by the files'
 * content and the settings (folderCacheKey): a rerun on the same images decodes nothing.
 */
import { KdqError } from '../../errors.ts';
import { sha256Hex } from '../../util/hash.ts';
import { digestFiles } from '../file-digest.ts';
import { badFile } from './bad-file.ts';
import { listFolder, type FolderListing, type ListedImage } from './folder-listing.ts';
import { readImageHeader, sharpDecoder, type DecodeTarget, type ImageDecoder } from './image-decode.ts';
import { checkTestSplit } from './test-split.ts';
import type { DataInfo, DecodedData, Split } from './types.ts';

export interface FolderOptions {
  /** Folder of class subfolders; with `testSplit`, the whole dataset. */
  train: string;
  /** Folder with the same class subfolders, for the test split; or else `testSplit`. */
  test?: string;
  /** Fraction of each class held out for the test split (with `seed`), when there is no test folder. */
  testSplit?: number;
  /** Run seed; the split's seed is derived from it. Default 0. */
  seed?: number;
  /** Resize every image to [H, W]; without it every image must have the size of the first. */
  imageSize?: [number, number];
  /** Greyscale (1) or RGB (3); default 1 when the first image is greyscale, else 3. */
  channels?: 1 | 3;
}

/** A store of decoded datasets by key. A miss is null, never an error; the data stage will provide one. */
export interface DecodedCache {
  get(key: string): Promise<DecodedData | null>;
  put(key: string, data: DecodedData): Promise<void>;
}

export interface ReadFolderDeps {
  cache?: DecodedCache;
  /** Folder of the sha256 memo (file-digest.ts), so a rerun hashes no unchanged file. */
  digestCacheDir?: string;
  decode?: ImageDecoder;
}

/** Bump when decoding changes what the same files and settings produce (it is part of the key). */
export const FOLDER_READER_VERSION = 1;
/** Images decoded at once: sharp decodes on libuv's threads; a few in flight keep them busy. */
const IN_FLIGHT = 4;

function checkOptions(o: FolderOptions): void {
  if ((o.test === undefined) === (o.testSplit === undefined)) {
    throw new KdqError(
      'E_CONFIG',
      `give either test (a folder with the same class subfolders) or testSplit (a fraction of '${o.train}'), ${o.test === undefined ? 'not neither' : 'not both'}`,
    );
  }
  if (o.testSplit !== undefined) checkTestSplit(o.testSplit, 'testSplit');
  if (o.imageSize !== undefined && !(o.imageSize.length === 2 && o.imageSize.every((d) => Number.isInteger(d) && d >= 1 && d <= 4096))) {
    throw new KdqError('E_CONFIG', `imageSize is ${JSON.stringify(o.imageSize)}; give [height, width] in pixels, e.g. [32, 32]`);
  }
  if (o.channels !== undefined && o.channels !== 1 && o.channels !== 3) {
    throw new KdqError('E_CONFIG', `channels is ${JSON.stringify(o.channels)}; give 1 (greyscale) or 3 (RGB)`);
  }
}

/** The decode settings every image gets: from the options, else from the first image's header. */
async function target(o: FolderOptions, listing: FolderListing): Promise<DecodeTarget & { size: [number, number] }> {
  if (o.imageSize && o.channels) return { size: o.imageSize, channels: o.channels };
  const first = await readImageHeader(listing.first.path);
  return { size: o.imageSize ?? [first.height, first.width], channels: o.channels ?? first.channels };
}

/** Counts and classes from the listing, shape from the options or one image header: no image is decoded. */
export async function probeFolder(o: FolderOptions): Promise<DataInfo> {
  checkOptions(o);
  const listing = await listFolder(o);
  const t = await target(o, listing);
  return info(listing, t);
}

function info(listing: FolderListing, t: DecodeTarget & { size: [number, number] }): DataInfo {
  return {
    format: 'folder',
    inputShape: [t.size[0], t.size[1], t.channels],
    dtype: 'uint8',
    numClasses: listing.classNames.length,
    classNames: listing.classNames,
    featureNames: null,
    trainCount: listing.train.length,
    testCount: listing.test.length,
  };
}

/** Key of a decoded folder dataset, with the explanation of what went into it. */
export interface FolderCacheKey {
  value: string;
  details: {
    reader: number;
    settings: { imageSize: [number, number]; channels: 1 | 3; imageSizeGiven: boolean; testSplit: number | null; seed: number | null };
    trainFiles: number;
    testFiles: number;
    /** sha256 of the listing: each file's split, `class/name` and content sha256, in order. */
    listing: string;
  };
}

/**
 * The key: the listing (split, `class/file` and sha256 of every file, in the order read) plus
 * the settings that change the pixels or the split. Paths are relative, so moving the folder keeps
 * the key; renaming a class or a file, or changing one byte of one image, changes it.
 */
export function folderCacheKey(
  o: FolderOptions,
  listing: FolderListing,
  digests: { train: string[]; test: string[] },
  t: DecodeTarget & { size: [number, number] },
): FolderCacheKey {
  const files = [...listing.train.map((f, i) => ['train', f.rel, digests.train[i]]), ...listing.test.map((f, i) => ['test', f.rel, digests.test[i]])];
  const details: FolderCacheKey['details'] = {
    reader: FOLDER_READER_VERSION,
    settings: {
      imageSize: t.size,
      channels: t.channels,
      imageSizeGiven: o.imageSize !== undefined,
      testSplit: o.testSplit ?? null,
      seed: o.testSplit === undefined ? null : (o.seed ?? 0),
    },
    trainFiles: listing.train.length,
    testFiles: listing.test.length,
    listing: sha256Hex(JSON.stringify(files)),
  };
  return { value: sha256Hex(JSON.stringify(details)), details };
}

async function decodeSplit(
  files: ListedImage[],
  t: DecodeTarget & { size: [number, number] },
  decode: ImageDecoder,
  o: FolderOptions,
  first: string,
): Promise<Split> {
  const per = t.size[0] * t.size[1] * t.channels;
  const x = new Uint8Array(files.length * per);
  const y = Int32Array.from(files, (f) => f.label);
  let next = 0;
  let failed = false; // after one error the other workers stop taking files
  const worker = async () => {
    while (next < files.length && !failed) {
      const i = next++;
      const img = await decode(files[i].path, o.imageSize ? t : { channels: t.channels });
      if (img.height !== t.size[0] || img.width !== t.size[1]) {
        throw badFile(
          files[i].path,
          null,
          `the image is ${img.height}x${img.width} (height x width), but '${first}' is ${t.size[0]}x${t.size[1]}`,
          'images of different sizes need imageSize: [H, W] to resize them all to one size',
        );
      }
      x.set(img.data, i * per);
    }
  };
  const run = () =>
    worker().catch((err: unknown) => {
      failed = true;
      throw err;
    });
  await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, files.length) }, run));
  return { count: files.length, x, y };
}

async function keyOf(
  o: FolderOptions,
  listing: FolderListing,
  t: DecodeTarget & { size: [number, number] },
  digestCacheDir: string | undefined,
): Promise<FolderCacheKey> {
  const hash = async (files: ListedImage[]) =>
    (
      await digestFiles(
        files.map((f) => ({ path: f.path, role: 'image' })),
        digestCacheDir,
      )
    ).map((d) => d.sha256);
  return folderCacheKey(o, listing, { train: await hash(listing.train), test: await hash(listing.test) }, t);
}

/**
 * The key of the decoded dataset the options describe, without decoding: a listing, one image
 * header (unless imageSize and channels are both given) and a digest per file (a stat each once
 * remembered in `digestCacheDir`). The data stage's fingerprint.
 */
export async function folderKeyOf(o: FolderOptions, digestCacheDir?: string): Promise<FolderCacheKey> {
  checkOptions(o);
  const listing = await listFolder(o);
  return keyOf(o, listing, await target(o, listing), digestCacheDir);
}

/** Every image decoded (or the decoded dataset from `deps.cache` when its key matches). */
export async function readFolder(o: FolderOptions, deps: ReadFolderDeps = {}): Promise<DecodedData> {
  checkOptions(o);
  const listing = await listFolder(o);
  const t = await target(o, listing);
  let key: FolderCacheKey | null = null;
  if (deps.cache) {
    key = await keyOf(o, listing, t, deps.digestCacheDir);
    const hit = await deps.cache.get(key.value);
    if (hit) return hit;
  }
  const decode = deps.decode ?? sharpDecoder;
  const first = listing.first.path;
  const train = await decodeSplit(listing.train, t, decode, o, first);
  const test = await decodeSplit(listing.test, t, decode, o, first);
  const data: DecodedData = { ...info(listing, t), train, test };
  if (deps.cache && key) await deps.cache.put(key.value, data);
  return data;
}
