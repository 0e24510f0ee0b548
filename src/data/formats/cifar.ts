/**
 * The binary versions of CIFAR-10 and CIFAR-100. Each file is a run of fixed-size records: the
 * label byte(s) (CIFAR-10: the class; CIFAR-100: the coarse then the fine class), then 3,072 pixel
 * bytes of a 32x32 colour image, channel-planar: the 1,024 red values row-major, then green, then
 * blue. The reader turns records into NHWC uint8 images, one 1,024-record chunk at a time, so
 * memory holds the decoded set and one chunk, never a whole file beside it.
 */
import { open, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Cifar100LabelSet } from '../../names.ts';
import { badFile, bytes, unreadable } from './bad-file.ts';
import type { DataInfo, DecodedData, Split } from './types.ts';

export type CifarKind = 'cifar10' | 'cifar100';

/** The files of one CIFAR dataset, wherever they are (a folder, or the download cache). */
export interface CifarFiles {
  /** Training record files, read in this order. */
  train: string[];
  test: string;
  /**
   * Class-name files (one name per line), null where there is none: CIFAR-10's batches.meta.txt as
   * `fine`; CIFAR-100's fine_label_names.txt and coarse_label_names.txt.
   */
  labelNames: Record<Cifar100LabelSet, string | null>;
}

export interface CifarOptions {
  kind: CifarKind;
  files: CifarFiles;
  /** CIFAR-100 only: classify the 100 fine classes (default) or the 20 coarse superclasses. */
  labels?: Cifar100LabelSet;
}

const SIDE = 32;
const PLANE = SIDE * SIDE;
const PIXELS = 3 * PLANE;
/** Records decoded per read: 3 MB at a time. */
const CHUNK_RECORDS = 1024;

interface Layout {
  /** Bytes of labels before the pixels of each record. */
  labelBytes: number;
  /** The standard file names of the binary version. */
  train: string[];
  test: string;
  names: Record<Cifar100LabelSet, string>;
  archive: string;
}

export const CIFAR_LAYOUT: Record<CifarKind, Layout> = {
  cifar10: {
    labelBytes: 1,
    train: [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`),
    test: 'test_batch.bin',
    names: { fine: 'batches.meta.txt', coarse: 'batches.meta.txt' }, // CIFAR-10 has one label set
    archive: 'cifar-10-binary.tar.gz',
  },
  cifar100: {
    labelBytes: 2,
    train: ['train.bin'],
    test: 'test.bin',
    names: { fine: 'fine_label_names.txt', coarse: 'coarse_label_names.txt' },
    archive: 'cifar-100-binary.tar.gz',
  },
};

/** Every file name of the binary version of `kind` (what an archive or a folder may hold). */
export function cifarFileNames(kind: CifarKind): string[] {
  const l = CIFAR_LAYOUT[kind];
  return [...l.train, l.test, ...new Set(Object.values(l.names))];
}

function recordSize(kind: CifarKind): number {
  return CIFAR_LAYOUT[kind].labelBytes + PIXELS;
}

function labelSet(o: CifarOptions): { classes: number; labelByte: number; what: string; set: Cifar100LabelSet } {
  if (o.kind === 'cifar10') return { classes: 10, labelByte: 0, what: 'class', set: 'fine' };
  return o.labels === 'coarse'
    ? { classes: 20, labelByte: 0, what: 'coarse label', set: 'coarse' }
    : { classes: 100, labelByte: 1, what: 'fine label', set: 'fine' };
}

const FIX_FILES = (kind: CifarKind) =>
  `use the files of the binary version (${CIFAR_LAYOUT[kind].archive}, unpacked), not the Python or MATLAB version; download or copy them again`;

/** The standard files of `kind` in `dir`; the label-name file is optional. */
export async function cifarFilesInDir(dir: string, kind: CifarKind): Promise<CifarFiles> {
  const l = CIFAR_LAYOUT[kind];
  const exists = async (name: string) => (await stat(join(dir, name)).catch(() => null))?.isFile() === true;
  const missing: string[] = [];
  for (const name of [...l.train, l.test]) if (!(await exists(name))) missing.push(name);
  if (missing.length > 0) {
    throw badFile(
      dir,
      null,
      `the ${kind} folder lacks ${missing.join(', ')}`,
      `point dir at the unpacked ${l.archive} (the folder holding ${[...l.train, l.test].join(', ')})`,
    );
  }
  const names = async (set: Cifar100LabelSet) =>
    kind === 'cifar10' && set === 'coarse' ? null : (await exists(l.names[set])) ? join(dir, l.names[set]) : null;
  return {
    train: l.train.map((n) => join(dir, n)),
    test: join(dir, l.test),
    labelNames: { fine: await names('fine'), coarse: await names('coarse') },
  };
}

/** Number of records in a file, from its size. */
async function countRecords(path: string, kind: CifarKind): Promise<number> {
  let size: number;
  try {
    const s = await stat(path);
    if (!s.isFile()) throw Object.assign(new Error('not a file'), { code: 'EISDIR' });
    size = s.size;
  } catch (err) {
    throw unreadable(path, err, FIX_FILES(kind));
  }
  const rs = recordSize(kind);
  const other: CifarKind = kind === 'cifar10' ? 'cifar100' : 'cifar10';
  if (size === 0) throw badFile(path, { byte: 0 }, `the file is empty, expected ${bytes(rs)}-byte ${kind} records`, FIX_FILES(kind));
  if (size % rs !== 0) {
    const whole = Math.floor(size / rs);
    const hint = size % recordSize(other) === 0 ? ` (it is a whole number of ${other} records: is this ${other} data?)` : '';
    throw badFile(
      path,
      { record: whole, byte: whole * rs },
      `the file is ${bytes(size)} bytes, not a whole number of ${bytes(rs)}-byte ${kind} records (${CIFAR_LAYOUT[kind].labelBytes} label byte(s) + 3,072 pixel bytes): record ${whole} is cut short${hint}`,
      FIX_FILES(kind),
    );
  }
  return size / rs;
}

/** The class names in a label-name file: one per line, blank lines at the end ignored. */
async function readNames(path: string, count: number, kind: CifarKind): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw unreadable(path, err, FIX_FILES(kind));
  }
  const lines = text.split(/\r?\n/).map((s) => s.trim());
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const blank = lines.indexOf('');
  if (blank >= 0) throw badFile(path, { line: blank + 1 }, 'a blank line among the class names, expected one name per line', FIX_FILES(kind));
  if (lines.length !== count) {
    throw badFile(path, { line: Math.min(lines.length, count) + 1 }, `found ${lines.length} class names, expected ${count} (one per line)`, FIX_FILES(kind));
  }
  return lines;
}

/** Shape, class count and names, and example counts from the file sizes: no record is read. */
export async function probeCifar(o: CifarOptions): Promise<DataInfo> {
  const { classes, set } = labelSet(o);
  const namesFile = o.files.labelNames[set];
  let trainCount = 0;
  for (const f of o.files.train) trainCount += await countRecords(f, o.kind);
  const testCount = await countRecords(o.files.test, o.kind);
  return {
    format: o.kind,
    inputShape: [SIDE, SIDE, 3],
    dtype: 'uint8',
    numClasses: classes,
    classNames: namesFile === null ? null : await readNames(namesFile, classes, o.kind),
    featureNames: null,
    trainCount,
    testCount,
  };
}

/** Decodes the records of `path` into `split` from example `at` on; returns the next free example. */
async function decodeFile(path: string, o: CifarOptions, split: Split, at: number, count: number): Promise<number> {
  const rs = recordSize(o.kind);
  const { classes, labelByte, what } = labelSet(o);
  const buf = new Uint8Array(CHUNK_RECORDS * rs);
  const x = split.x as Uint8Array;
  const fh = await open(path, 'r').catch((err: unknown) => {
    throw unreadable(path, err, FIX_FILES(o.kind));
  });
  try {
    for (let first = 0; first < count; first += CHUNK_RECORDS) {
      const n = Math.min(CHUNK_RECORDS, count - first);
      const { bytesRead } = await fh.read(buf, 0, n * rs, first * rs);
      if (bytesRead !== n * rs) {
        throw badFile(path, { byte: first * rs + bytesRead }, 'the file ends early (it shrank while being read)', FIX_FILES(o.kind));
      }
      for (let r = 0; r < n; r++) {
        const rec = r * rs;
        const label = buf[rec + labelByte];
        if (label >= classes) {
          throw badFile(
            path,
            { record: first + r, byte: (first + r) * rs + labelByte },
            `${what} ${label}, expected 0..${classes - 1} (${o.kind}${o.kind === 'cifar100' ? `, labels: ${o.labels ?? 'fine'}` : ''})`,
            FIX_FILES(o.kind),
          );
        }
        const ex = at + first + r;
        split.y[ex] = label;
        // Planar RGB (CHW) to interleaved (HWC).
        const src = rec + CIFAR_LAYOUT[o.kind].labelBytes;
        const dst = ex * PIXELS;
        for (let p = 0; p < PLANE; p++) {
          x[dst + 3 * p] = buf[src + p];
          x[dst + 3 * p + 1] = buf[src + PLANE + p];
          x[dst + 3 * p + 2] = buf[src + 2 * PLANE + p];
        }
      }
    }
  } finally {
    await fh.close();
  }
  return at + count;
}

async function readSplit(paths: string[], counts: number[], o: CifarOptions): Promise<Split> {
  const total = counts.reduce((a, b) => a + b, 0);
  const split: Split = { count: total, x: new Uint8Array(total * PIXELS), y: new Int32Array(total) };
  let at = 0;
  for (let i = 0; i < paths.length; i++) at = await decodeFile(paths[i], o, split, at, counts[i]);
  return split;
}

/** All records decoded to NHWC uint8 images, labels checked against the label set. */
export async function readCifar(o: CifarOptions): Promise<DecodedData> {
  const info = await probeCifar(o);
  const trainCounts: number[] = [];
  for (const f of o.files.train) trainCounts.push(await countRecords(f, o.kind));
  const train = await readSplit(o.files.train, trainCounts, o);
  const test = await readSplit([o.files.test], [info.testCount], o);
  return { ...info, train, test };
}
