/**
 * The IDX file format of MNIST and its look-alikes (Fashion-MNIST, KMNIST, EMNIST): a 4-byte magic
 * (two zero bytes, a type code, the number of dimensions), one big-endian uint32 per dimension,
 * then the values row-major. kdq reads unsigned-byte files only: images with 3 dimensions
 * (n, height, width) or 4 (n, height, width, channels), labels with 1 (n). Files may be gzipped;
 * that is detected from the content, since names like `.gz` are often wrong after a download.
 */
import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';
import { KdqError } from '../errors.ts';

const gunzipAsync = promisify(gunzip);

/** IDX type code of unsigned bytes, the only element type MNIST-style datasets use. */
const UBYTE = 0x08;
const HEADER_PREFIX = 4;

/** A decoded image file. */
export interface IdxImages {
  /** Images in the file. */
  count: number;
  height: number;
  width: number;
  channels: number;
  /** Pixels of the images read: all `count`, or a prefix when only the first images were read. */
  pixels: Uint8Array;
}

/** A decoded label file. */
export interface IdxLabels {
  count: number;
  labels: Uint8Array;
  /** Largest label value in the file (-1 when the file is empty). */
  maxLabel: number;
}

/** True when `bytes` start with the gzip magic 1f 8b. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Returns the raw IDX bytes, inflating them first when they are gzipped. */
export async function inflateIfGzip(bytes: Uint8Array, path: string): Promise<Uint8Array> {
  if (!isGzip(bytes)) return bytes;
  try {
    const out = await gunzipAsync(bytes);
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  } catch (err) {
    throw new KdqError(
      'E_DATA',
      `'${path}' starts like a gzip file but does not inflate (${(err as Error).message}); ` +
        `the file is truncated or corrupt: download or copy it again`,
      { cause: err },
    );
  }
}

function hex(n: number, width = 8): string {
  return `0x${n.toString(16).padStart(width, '0')}`;
}

/** The header of an IDX file: dimensions, where the values start and the file length they imply. */
export interface IdxHeader {
  dims: number[];
  /** Byte offset of the first value. */
  offset: number;
  /** Length in bytes of the whole (inflated) file, as the header declares it. */
  length: number;
}

export type IdxKind = 'image' | 'label';
const KIND_DIMS: Record<IdxKind, readonly number[]> = { image: [3, 4], label: [1] };

/**
 * Reads and checks the header at the start of `bytes`, which may be just a prefix of the file
 * (at least the header). The file's total length is checked separately (checkIdxLength).
 */
export function parseIdxHeader(bytes: Uint8Array, path: string, kind: IdxKind): IdxHeader {
  const expectDims = KIND_DIMS[kind];
  const expectedMagic = expectDims.map((d) => hex((UBYTE << 8) | d)).join(' or ');
  if (bytes.length < HEADER_PREFIX) {
    throw new KdqError(
      'E_DATA',
      `'${path}' is ${bytes.length} bytes long, too short for an IDX ${kind} file (magic ${expectedMagic}); ` +
        `the file is truncated: download or copy it again`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, false);
  const ndims = bytes[3];
  if (bytes[0] !== 0 || bytes[1] !== 0 || bytes[2] !== UBYTE || !expectDims.includes(ndims)) {
    const asLabels = magic === 0x00000801 ? ' (that is an IDX label file: are trainImages and trainLabels swapped?)' : '';
    const asImages = magic === 0x00000803 || magic === 0x00000804 ? ' (that is an IDX image file: are the image and label paths swapped?)' : '';
    throw new KdqError(
      'E_DATA',
      `'${path}' has magic ${hex(magic)}, expected ${expectedMagic} for an IDX ${kind} file of unsigned bytes` +
        `${kind === 'image' ? asLabels : asImages}; point data.files at an uncompressed or gzipped IDX ${kind} file`,
    );
  }
  const offset = HEADER_PREFIX + 4 * ndims;
  if (bytes.length < offset) {
    throw new KdqError(
      'E_DATA',
      `'${path}' is ${bytes.length} bytes long, shorter than its own ${offset}-byte IDX header; ` +
        `the file is truncated: download or copy it again`,
    );
  }
  const dims: number[] = [];
  for (let i = 0; i < ndims; i++) dims.push(view.getUint32(HEADER_PREFIX + 4 * i, false));
  if (kind === 'image' && dims.slice(1).some((d) => d === 0)) {
    throw new KdqError(
      'E_DATA',
      `'${path}' declares images of ${dims.slice(1).join(' x ')} pixels; every image dimension must be at least 1: the header is corrupt`,
    );
  }
  return { dims, offset, length: offset + dims.reduce((a, b) => a * b, 1) };
}

/** Checks that a file of `found` bytes (inflated) is exactly as long as its header says. */
export function checkIdxLength(header: IdxHeader, found: number, path: string): void {
  if (found === header.length) return;
  const why = found < header.length ? 'the file is truncated: download or copy it again' : 'the file has trailing bytes: it is not a plain IDX file';
  throw new KdqError(
    'E_DATA',
    `'${path}' is ${found} bytes long, but its header (dimensions ${header.dims.join(' x ')}) ` +
      `needs exactly ${header.length} bytes; ${why}`,
  );
}

/** Image geometry from a checked image header; `pixels` holds the first `pixels.length / (h*w*c)` images. */
export function imagesFromHeader(header: IdxHeader, pixels: Uint8Array): IdxImages {
  const [count, height, width, channels = 1] = header.dims;
  return { count, height, width, channels, pixels };
}

/** Decodes a whole (already inflated) IDX image file. */
export function parseIdxImages(bytes: Uint8Array, path: string): IdxImages {
  const header = parseIdxHeader(bytes, path, 'image');
  checkIdxLength(header, bytes.length, path);
  return imagesFromHeader(header, bytes.subarray(header.offset));
}

/**
 * Decodes an (already inflated) IDX label file. With `numClasses`, every label must be below it:
 * a label past the class count would index past the model's last layer.
 */
export function parseIdxLabels(bytes: Uint8Array, path: string, numClasses?: number): IdxLabels {
  const header = parseIdxHeader(bytes, path, 'label');
  checkIdxLength(header, bytes.length, path);
  const labels = bytes.subarray(header.offset);
  let maxLabel = -1;
  let maxAt = -1;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] > maxLabel) {
      maxLabel = labels[i];
      maxAt = i;
    }
  }
  if (numClasses !== undefined && maxLabel >= numClasses) {
    throw new KdqError(
      'E_DATA',
      `'${path}' has label ${maxLabel} at index ${maxAt}, expected labels 0..${numClasses - 1} ` +
        `(${numClasses} classes); the file belongs to another dataset or is corrupt`,
    );
  }
  return { count: header.dims[0], labels, maxLabel };
}

/** Checks that an image file and its label file describe the same number of examples. */
export function checkCountsMatch(images: IdxImages, imagesPath: string, labels: IdxLabels, labelsPath: string): void {
  if (images.count !== labels.count) {
    throw new KdqError(
      'E_DATA',
      `'${imagesPath}' holds ${images.count} images but '${labelsPath}' holds ${labels.count} labels; ` +
        `they must match one to one: check that both files come from the same dataset and split`,
    );
  }
}
