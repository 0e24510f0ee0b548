/**
 * A decoded dataset as files in a folder (the data stage's cache entry for an image folder):
 * the four arrays as raw little-endian bytes and a JSON of the rest, with the key it was decoded
 * under. Reading it back costs a file read instead of decoding every image again.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KdqError } from '../errors.ts';
import { toFloat32, typedBytes } from '../util/bytes.ts';
import type { DecodedCache } from './formats/folder.ts';
import type { DataInfo, DecodedData } from './formats/types.ts';

export const DECODED_INFO = 'decoded.json';
const ARRAYS = { trainX: 'train-x.bin', trainY: 'train-y.bin', testX: 'test-x.bin', testY: 'test-y.bin' } as const;

interface StoredInfo extends DataInfo {
  /** The key the data was decoded under (folderCacheKey). */
  key: string;
}

/** Writes `data` into `dir` (a folder being filled, committed by the caller). */
export async function writeDecoded(dir: string, key: string, data: DecodedData): Promise<void> {
  const { train, test, ...info } = data;
  await writeFile(join(dir, ARRAYS.trainX), typedBytes(train.x));
  await writeFile(join(dir, ARRAYS.trainY), typedBytes(train.y));
  await writeFile(join(dir, ARRAYS.testX), typedBytes(test.x));
  await writeFile(join(dir, ARRAYS.testY), typedBytes(test.y));
  const stored: StoredInfo = { ...info, key };
  await writeFile(join(dir, DECODED_INFO), JSON.stringify(stored) + '\n');
}

function int32(bytes: Uint8Array): Int32Array {
  const out = new Int32Array(bytes.byteLength / 4);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}

/** The decoded dataset stored in `dir` under `key`, or null when there is none or another key's. */
export async function readDecoded(dir: string, key: string): Promise<DecodedData | null> {
  let stored: StoredInfo;
  try {
    stored = JSON.parse(await readFile(join(dir, DECODED_INFO), 'utf8')) as StoredInfo;
  } catch {
    return null;
  }
  if (stored.key !== key) return null;
  const { key: _key, ...info } = stored;
  const read = (name: string) => readFile(join(dir, name)).then((b) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
  const x = async (name: string) => (info.dtype === 'uint8' ? (await read(name)).slice() : toFloat32(await read(name)));
  const train = { count: info.trainCount, x: await x(ARRAYS.trainX), y: int32(await read(ARRAYS.trainY)) };
  const test = { count: info.testCount, x: await x(ARRAYS.testX), y: int32(await read(ARRAYS.testY)) };
  const per = info.inputShape.reduce((a, b) => a * b, 1);
  for (const [name, s] of [
    ['train', train],
    ['test', test],
  ] as const) {
    if (s.x.length !== s.count * per || s.y.length !== s.count) {
      throw new KdqError(
        'E_CACHE',
        `the decoded ${name} split in '${dir}' holds ${s.y.length} labels and ${s.x.length} values, expected ${s.count} examples of ${per}; delete the cache entry and run again`,
      );
    }
  }
  return { ...info, train, test };
}

/** A DecodedCache that answers from the entry in `dir` (read-only: the data stage writes it). */
export function decodedCacheIn(dir: string): DecodedCache {
  return { get: (key) => readDecoded(dir, key), put: async () => undefined };
}
