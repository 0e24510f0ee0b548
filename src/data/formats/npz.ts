/**
 * NumPy .npz files in the keras.datasets convention: arrays `x_train`, `y_train`, `x_test`,
 * `y_test`. Images `[N, H, W]` or `[N, H, W, C]` (or tabular rows `[N, F]`) of uint8 or float32;
 * labels `[N]` or `[N, 1]` of any integer type. Stored (numpy.savez) or deflated
 * (numpy.savez_compressed) members; big-endian arrays are converted; Fortran-order ones refused.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { readZipDirectory, readZipEntry, readZipEntryPrefix, type ZipEntry } from '../zip.ts';
import { badFile, unreadable } from './bad-file.ts';
import { checkNpyLength, parseNpyHeader, type NpyHeader, type NpyPlace } from './npy.ts';
import { valuesPerExample, type DataInfo, type DecodedData, type ElementType, type ExampleArray, type Split } from './types.ts';

export interface NpzOptions {
  file: string;
  /** Class count; default: the largest training label + 1. Labels must be below it. */
  numClasses?: number;
}

const ARRAYS = ['x_train', 'y_train', 'x_test', 'y_test'] as const;
type ArrayName = (typeof ARRAYS)[number];
/** Enough for any header numpy writes for arrays of up to a few dimensions. */
const HEADER_PREFIX = 4096;
const FIX = "save the arrays as numpy.savez(path, x_train=..., y_train=..., x_test=..., y_test=...) (keras.datasets' layout)";

interface Opened {
  fh: FileHandle;
  size: number;
  entries: Record<ArrayName, ZipEntry>;
}

async function openNpz(file: string): Promise<Opened> {
  let fh: FileHandle;
  try {
    fh = await open(file, 'r');
  } catch (err) {
    throw unreadable(file, err, 'check the path');
  }
  try {
    const size = (await fh.stat()).size;
    const dir = await readZipDirectory(fh, file, size);
    const entries = {} as Record<ArrayName, ZipEntry>;
    const missing = ARRAYS.filter((n) => !dir.has(`${n}.npy`));
    if (missing.length > 0) {
      const has = [...dir.keys()].map((k) => k.replace(/\.npy$/, ''));
      throw badFile(file, null, `lacks ${missing.join(', ')} (it holds ${has.length > 0 ? has.join(', ') : 'no arrays'})`, FIX);
    }
    for (const n of ARRAYS) entries[n] = dir.get(`${n}.npy`) as ZipEntry;
    return { fh, size, entries };
  } catch (err) {
    await fh.close();
    throw unreadable(file, err, 'check the path');
  }
}

function checkHeader(h: NpyHeader, name: ArrayName, at: NpyPlace): void {
  const fail = (problem: string, fix: string) => badFile(at.file, { entry: at.entry }, problem, fix);
  if (h.fortranOrder && h.shape.filter((d) => d > 1).length > 1) {
    throw fail('the array is stored in Fortran (column-major) order', `save numpy.ascontiguousarray(${name}) instead`);
  }
  const t = h.dtype;
  if (t.kind === 'O') {
    throw fail(
      `dtype '${t.descr}' (Python objects, stored pickled), expected numbers; kdq never unpickles`,
      `save ${name}.astype(${name.startsWith('x_') ? "'float32'" : "'int64'"})`,
    );
  }
  if (name.startsWith('x_')) {
    if (!((t.kind === 'u' && t.size === 1) || (t.kind === 'f' && t.size === 4))) {
      const fix = t.kind === 'f' ? `save ${name}.astype('float32')` : `save ${name}.astype('uint8') (pixel values) or .astype('float32')`;
      throw fail(`dtype '${t.descr}', expected uint8 ('|u1') or float32 ('<f4')`, fix);
    }
    if (h.shape.length < 2 || h.shape.length > 4) {
      throw fail(`shape (${h.shape.join(', ')}), expected images [N, H, W] or [N, H, W, C], or rows [N, F]`, `reshape ${name} before saving`);
    }
  } else {
    if (!(t.kind === 'u' || t.kind === 'i') || ![1, 2, 4, 8].includes(t.size)) {
      throw fail(`dtype '${t.descr}', expected integer class indices (e.g. '|u1' or '<i8')`, `save ${name}.astype('int64')`);
    }
    if (!(h.shape.length === 1 || (h.shape.length === 2 && h.shape[1] === 1))) {
      throw fail(`shape (${h.shape.join(', ')}), expected labels [N] or [N, 1]`, `save one class index per example (not one-hot: ${name}.argmax(axis=1))`);
    }
  }
}

/** The header of each array, from the start of each member (no array is read whole). */
async function headers(o: Opened, file: string): Promise<Record<ArrayName, NpyHeader>> {
  const out = {} as Record<ArrayName, NpyHeader>;
  for (const n of ARRAYS) {
    const at = { file, entry: `${n}.npy` };
    const h = parseNpyHeader(await readZipEntryPrefix(o.fh, file, o.entries[n], HEADER_PREFIX), at);
    checkHeader(h, n, at);
    checkNpyLength(h, o.entries[n].size - h.dataOffset, at);
    out[n] = h;
  }
  return out;
}

interface Shapes {
  inputShape: number[];
  dtype: ElementType;
  trainCount: number;
  testCount: number;
}

function checkShapes(h: Record<ArrayName, NpyHeader>, file: string): Shapes {
  for (const [x, y] of [
    ['x_train', 'y_train'],
    ['x_test', 'y_test'],
  ] as const) {
    if (h[x].shape[0] !== h[y].shape[0]) {
      throw badFile(
        file,
        { entry: `${y}.npy` },
        `holds ${h[y].shape[0]} labels, but ${x} holds ${h[x].shape[0]} examples`,
        'labels and examples must match one to one',
      );
    }
    if (h[x].shape[0] === 0) throw badFile(file, { entry: `${x}.npy` }, 'holds no examples', 'save at least one example per split');
  }
  const example = (s: number[]) => (s.length === 3 ? [...s.slice(1), 1] : s.slice(1));
  const a = example(h.x_train.shape);
  const b = example(h.x_test.shape);
  const ta = h.x_train.dtype.kind === 'u' ? 'uint8' : 'float32';
  const tb = h.x_test.dtype.kind === 'u' ? 'uint8' : 'float32';
  if (a.join('x') !== b.join('x') || ta !== tb) {
    throw badFile(
      file,
      { entry: 'x_test.npy' },
      `examples are [${b.join(', ')}] ${tb}, but x_train's are [${a.join(', ')}] ${ta}`,
      'both splits must have the same example shape and dtype',
    );
  }
  return { inputShape: a, dtype: ta, trainCount: h.x_train.shape[0], testCount: h.x_test.shape[0] };
}

/** Labels as class indices (any integer type, either byte order). */
function labelsOf(data: Uint8Array, h: NpyHeader, at: NpyPlace): { y: Int32Array; max: number } {
  const n = h.shape[0];
  const dv = new DataView(data.buffer, data.byteOffset + h.dataOffset, n * h.dtype.size);
  const { kind, size, littleEndian: le } = h.dtype;
  const y = new Int32Array(n);
  let max = -1;
  for (let i = 0; i < n; i++) {
    const p = i * size;
    let v: number;
    if (size === 1) v = kind === 'u' ? dv.getUint8(p) : dv.getInt8(p);
    else if (size === 2) v = kind === 'u' ? dv.getUint16(p, le) : dv.getInt16(p, le);
    else if (size === 4) v = kind === 'u' ? dv.getUint32(p, le) : dv.getInt32(p, le);
    else v = Number(kind === 'u' ? dv.getBigUint64(p, le) : dv.getBigInt64(p, le));
    if (v < 0 || v > 0x7fffffff) {
      throw badFile(
        at.file,
        { entry: at.entry, byte: h.dataOffset + p },
        `label ${v} of example ${i}, expected a class index of 0 or more`,
        'labels must be class indices 0, 1, 2, ...',
      );
    }
    y[i] = v;
    if (v > max) max = v;
  }
  return { y, max };
}

function checkRange(y: Int32Array, h: NpyHeader, at: NpyPlace, classes: number, from: string): void {
  for (let i = 0; i < y.length; i++) {
    if (y[i] >= classes) {
      throw badFile(
        at.file,
        { entry: at.entry, byte: h.dataOffset + i * h.dtype.size },
        `label ${y[i]} of example ${i}, expected 0..${classes - 1} (${classes} classes, ${from})`,
        'the arrays belong to different datasets, or set numClasses',
      );
    }
  }
}

async function readLabels(o: Opened, opts: NpzOptions, h: Record<ArrayName, NpyHeader>): Promise<{ train: Int32Array; test: Int32Array; numClasses: number }> {
  const read = async (n: 'y_train' | 'y_test') => {
    const at = { file: opts.file, entry: `${n}.npy` };
    return { at, ...labelsOf(await readZipEntry(o.fh, opts.file, o.size, o.entries[n]), h[n], at) };
  };
  const train = await read('y_train');
  const test = await read('y_test');
  const numClasses = opts.numClasses ?? train.max + 1;
  const from = opts.numClasses !== undefined ? 'numClasses' : `the largest y_train label is ${train.max}`;
  if (numClasses < 2) {
    throw badFile(opts.file, { entry: 'y_train.npy' }, `every label is ${train.max}, but a classifier needs at least 2 classes`, 'check y_train');
  }
  checkRange(train.y, h.y_train, train.at, numClasses, from);
  checkRange(test.y, h.y_test, test.at, numClasses, from);
  return { train: train.y, test: test.y, numClasses };
}

/** Examples in memory as their dtype: uint8 as is, float32 viewed in place or converted from big-endian. */
function examplesOf(data: Uint8Array, h: NpyHeader): ExampleArray {
  const len = h.shape.reduce((a, b) => a * b, 1);
  if (h.dtype.kind === 'u') return data.subarray(h.dataOffset, h.dataOffset + len);
  const at = data.byteOffset + h.dataOffset;
  if (h.dtype.littleEndian && at % 4 === 0) return new Float32Array(data.buffer, at, len);
  const out = new Float32Array(len);
  const dv = new DataView(data.buffer, at, len * 4);
  for (let i = 0; i < len; i++) out[i] = dv.getFloat32(4 * i, h.dtype.littleEndian);
  return out;
}

/** Shape, type, counts and class count from the array headers and the (small) label arrays. */
export async function probeNpz(opts: NpzOptions): Promise<DataInfo> {
  const o = await openNpz(opts.file);
  try {
    const h = await headers(o, opts.file);
    const s = checkShapes(h, opts.file);
    const labels = await readLabels(o, opts, h);
    return { format: 'npz', ...s, numClasses: labels.numClasses, classNames: null, featureNames: null };
  } finally {
    await o.fh.close();
  }
}

/** The four arrays, decoded and checked. */
export async function readNpz(opts: NpzOptions): Promise<DecodedData> {
  const o = await openNpz(opts.file);
  try {
    const h = await headers(o, opts.file);
    const s = checkShapes(h, opts.file);
    const labels = await readLabels(o, opts, h);
    const split = async (n: 'x_train' | 'x_test', y: Int32Array): Promise<Split> => {
      const x = examplesOf(await readZipEntry(o.fh, opts.file, o.size, o.entries[n]), h[n]);
      return { count: x.length / valuesPerExample(s.inputShape), x, y };
    };
    const train = await split('x_train', labels.train);
    const test = await split('x_test', labels.test);
    return { format: 'npz', ...s, numClasses: labels.numClasses, classNames: null, featureNames: null, train, test };
  } finally {
    await o.fh.close();
  }
}
