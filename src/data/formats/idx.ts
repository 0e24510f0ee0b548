/**
 * IDX (the MNIST family's format), any image size: a magic of two zero bytes, a type code and the
 * rank; one big-endian uint32 per dimension; the values row-major and big-endian. Images are rank 3
 * `[N, H, W]` or rank 4 `[N, H, W, C]` of uint8 (0x08) or float32 (0x0D); labels rank 1 of uint8.
 * Files may be gzipped (see gzip-file.ts for why a gzip bomb cannot inflate past the header's size).
 */
import { badFile } from './bad-file.ts';
import { lengthError, readHead, readInflated, type Promised } from './gzip-file.ts';
import { valuesPerExample, type DataInfo, type DecodedData, type ElementType, type ExampleArray, type Split } from './types.ts';

export interface IdxOptions {
  /** Paths of the four files (plain or gzipped). */
  trainImages: string;
  trainLabels: string;
  testImages: string;
  testLabels: string;
  /** Class count; default: the largest training label + 1. Labels must be below it. */
  numClasses?: number;
}

const TYPES: Record<number, { name: string; size: number }> = {
  0x08: { name: 'uint8', size: 1 },
  0x09: { name: 'int8', size: 1 },
  0x0b: { name: 'int16', size: 2 },
  0x0c: { name: 'int32', size: 4 },
  0x0d: { name: 'float32', size: 4 },
  0x0e: { name: 'float64', size: 8 },
};
const IMAGE_TYPES: Record<number, ElementType> = { 0x08: 'uint8', 0x0d: 'float32' };
type Role = 'images' | 'labels';
/** Magic, then up to four dimensions. */
const MAX_HEADER = 4 + 4 * 4;
const FIX = 'check that the file is an IDX file of this role (rewrite it, or download or copy it again)';

export interface IdxHeader {
  dtype: ElementType;
  dims: number[];
  /** Byte offset of the first value. */
  offset: number;
}

const hex = (n: number) => `0x${n.toString(16).padStart(2, '0')}`;

/** Checks the header at the start of `head` (a prefix of the inflated file) for a file of `role`. */
export function parseIdxHeader(head: Uint8Array, path: string, role: Role): IdxHeader & Promised {
  const expectRanks = role === 'images' ? [3, 4] : [1];
  if (head.length < 4) {
    throw badFile(path, { byte: head.length }, `the file ends after ${head.length} bytes, inside the 4-byte IDX magic: the file is truncated or empty`, FIX);
  }
  if (head[0] !== 0 || head[1] !== 0) {
    throw badFile(
      path,
      { byte: head[0] !== 0 ? 0 : 1 },
      `found ${hex(head[0])} ${hex(head[1])}, expected the two zero bytes that start an IDX file`,
      'point the option at an IDX file (plain or gzipped)',
    );
  }
  const type = TYPES[head[2]];
  const rank = head[3];
  if (role === 'images' && rank === 1) {
    throw badFile(path, { byte: 3 }, 'found rank 1 (an IDX label file), expected images of rank 3 or 4', 'are the images and labels files swapped?');
  }
  if (role === 'labels' && (rank === 3 || rank === 4)) {
    throw badFile(path, { byte: 3 }, `found rank ${rank} (an IDX image file), expected labels of rank 1`, 'are the images and labels files swapped?');
  }
  if (!expectRanks.includes(rank)) {
    throw badFile(
      path,
      { byte: 3 },
      `found rank ${rank}, expected ${expectRanks.join(' or ')} for IDX ${role}`,
      role === 'images' ? 'write images as [N, H, W] or [N, H, W, C]' : 'write labels as [N]',
    );
  }
  const allowed = role === 'images' ? '0x08 (uint8) or 0x0d (float32)' : '0x08 (uint8)';
  if (!type || (role === 'images' ? !(head[2] in IMAGE_TYPES) : head[2] !== 0x08)) {
    throw badFile(
      path,
      { byte: 2 },
      `found type code ${hex(head[2])}${type ? ` (${type.name})` : ''}, expected ${allowed} for IDX ${role}`,
      role === 'images' ? 'convert the images to uint8 or float32' : 'store labels as unsigned bytes',
    );
  }
  const offset = 4 + 4 * rank;
  if (head.length < offset) {
    throw badFile(path, { byte: head.length }, `the file ends inside its ${offset}-byte IDX header: the file is truncated`, FIX);
  }
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const dims = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i, false));
  for (let i = 1; i < rank; i++) {
    if (dims[i] === 0) {
      throw badFile(
        path,
        { byte: 4 + 4 * i },
        `dimension ${i} is 0 (dimensions ${dims.join(' x ')}), expected at least 1`,
        'the header is corrupt: rewrite the file',
      );
    }
  }
  const dtype = role === 'images' ? IMAGE_TYPES[head[2]] : 'uint8';
  const total = offset + dims.reduce((a, b) => a * b, 1) * type.size;
  return { dtype, dims, offset, total, by: `its header (${dims.join(' x ')}, ${type.name})` };
}

/** A decoded IDX file: its header and values (float32 already in platform byte order). */
interface IdxArray {
  header: IdxHeader;
  values: ExampleArray;
}

async function readIdx(path: string, role: Role): Promise<IdxArray> {
  let header: (IdxHeader & Promised) | null = null;
  const { bytes: all } = await readInflated(path, MAX_HEADER, (head) => (header = parseIdxHeader(head, path, role)), FIX);
  const h = header as unknown as IdxHeader;
  if (h.dtype === 'uint8') return { header: h, values: all.subarray(h.offset) };
  // Big-endian float32 to platform order, in place: no second copy of a large file.
  for (let i = h.offset; i < all.length; i += 4) {
    const a = all[i];
    const b = all[i + 1];
    all[i] = all[i + 3];
    all[i + 1] = all[i + 2];
    all[i + 2] = b;
    all[i + 3] = a;
  }
  return { header: h, values: new Float32Array(all.buffer, all.byteOffset + h.offset, (all.length - h.offset) / 4) };
}

function imageShape(h: IdxHeader): number[] {
  return [h.dims[1], h.dims[2], h.dims[3] ?? 1];
}

interface Checked {
  inputShape: number[];
  dtype: ElementType;
  trainCount: number;
  testCount: number;
}

/** Checks that the four headers describe one dataset: counts match, both splits share a shape and type. */
function checkHeaders(o: IdxOptions, ti: IdxHeader, tl: IdxHeader, si: IdxHeader, sl: IdxHeader): Checked {
  for (const [img, imgPath, lab, labPath] of [
    [ti, o.trainImages, tl, o.trainLabels],
    [si, o.testImages, sl, o.testLabels],
  ] as const) {
    if (img.dims[0] !== lab.dims[0]) {
      throw badFile(
        labPath,
        { byte: 4 },
        `holds ${lab.dims[0]} labels, but '${imgPath}' holds ${img.dims[0]} images (its byte 4)`,
        'images and labels must match one to one: check that both files come from the same dataset and split',
      );
    }
    if (img.dims[0] === 0) throw badFile(imgPath, { byte: 4 }, 'holds 0 images, expected at least 1', 'point the option at a file with examples');
  }
  const a = imageShape(ti).join(' x ');
  const b = imageShape(si).join(' x ');
  if (a !== b || ti.dtype !== si.dtype) {
    throw badFile(
      o.testImages,
      { byte: 4 },
      `holds ${b} ${si.dtype} images, but the training images '${o.trainImages}' are ${a} ${ti.dtype}`,
      'both splits must have the same image size and type: check that the files come from the same dataset',
    );
  }
  return { inputShape: imageShape(ti), dtype: ti.dtype, trainCount: ti.dims[0], testCount: si.dims[0] };
}

/**
 * Labels as class indices; all must be below `numClasses` (given, or from the training labels).
 * `offset` is where the labels start in the file, so an error names the byte of the bad label.
 */
function toLabels(values: Uint8Array, offset: number, path: string, numClasses: number, from: string): Int32Array {
  const y = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    if (values[i] >= numClasses) {
      throw badFile(
        path,
        { byte: offset + i },
        `label ${values[i]} of example ${i}, expected 0..${numClasses - 1} (${numClasses} classes, ${from})`,
        'the file belongs to another dataset or is corrupt; or set numClasses',
      );
    }
    y[i] = values[i];
  }
  return y;
}

function classCount(o: IdxOptions, trainLabels: Uint8Array): { n: number; from: string } {
  if (o.numClasses !== undefined) return { n: o.numClasses, from: 'numClasses' };
  let max = 0;
  for (let i = 0; i < trainLabels.length; i++) if (trainLabels[i] > max) max = trainLabels[i];
  if (max < 1) {
    throw badFile(o.trainLabels, null, `every label is ${max}, but a classifier needs at least 2 classes`, 'check that the file holds the training labels');
  }
  return { n: max + 1, from: `the largest training label is ${max}` };
}

async function readLabels(o: IdxOptions): Promise<{ train: IdxArray; test: IdxArray; n: number; from: string; y: [Int32Array, Int32Array] }> {
  const train = await readIdx(o.trainLabels, 'labels');
  const test = await readIdx(o.testLabels, 'labels');
  const { n, from } = classCount(o, train.values as Uint8Array);
  const y: [Int32Array, Int32Array] = [
    toLabels(train.values as Uint8Array, train.header.offset, o.trainLabels, n, from),
    toLabels(test.values as Uint8Array, test.header.offset, o.testLabels, n, from),
  ];
  return { train, test, n, from, y };
}

/** The header of an image file without reading its pixels; its length is checked from the file size or gzip trailer. */
async function probeImages(path: string): Promise<IdxHeader> {
  const { head, gzipped, size, isize } = await readHead(path, MAX_HEADER, FIX);
  const h = parseIdxHeader(head, path, 'images');
  if (!gzipped && size !== h.total) throw lengthError(path, size, h, FIX, false);
  // ISIZE is the inflated length mod 2^32 (of the last gzip member): when it disagrees, inflate the
  // file (bounded by the header) so the error says exactly what is wrong, or a multi-member file passes.
  if (gzipped && isize !== h.total % 2 ** 32) await readIdx(path, 'images');
  return h;
}

/** Shape, type, class count and example counts from the image headers and the (small) label files. */
export async function probeIdx(o: IdxOptions): Promise<DataInfo> {
  const ti = await probeImages(o.trainImages);
  const si = await probeImages(o.testImages);
  const labels = await readLabels(o);
  const c = checkHeaders(o, ti, labels.train.header, si, labels.test.header);
  return { format: 'idx', ...c, numClasses: labels.n, classNames: null, featureNames: null };
}

/** All four files decoded and checked. */
export async function readIdxData(o: IdxOptions): Promise<DecodedData> {
  const labels = await readLabels(o);
  const ti = await readIdx(o.trainImages, 'images');
  const si = await readIdx(o.testImages, 'images');
  const c = checkHeaders(o, ti.header, labels.train.header, si.header, labels.test.header);
  const per = valuesPerExample(c.inputShape);
  const split = (a: IdxArray, y: Int32Array): Split => ({ count: a.values.length / per, x: a.values, y });
  return {
    format: 'idx',
    ...c,
    numClasses: labels.n,
    classNames: null,
    featureNames: null,
    train: split(ti, labels.y[0]),
    test: split(si, labels.y[1]),
  };
}
