/**
 * Reading IDX image files from disk, whole or only their first images. Runs with `trainLimit:
 * 1000` (every test, every quick experiment) need 0.8 MB of the 47 MB MNIST training images, so
 * a limited read takes the header and the prefix it needs, and checks the file's full length
 * without reading it: from the file size, or for gzip from the trailer's ISIZE field.
 */
import { createReadStream } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import { KdqError } from '../errors.ts';
import { checkIdxLength, imagesFromHeader, inflateIfGzip, isGzip, parseIdxHeader, parseIdxImages, type IdxImages } from './idx.ts';

/** An image file as read: the decoded images and, when the whole file was read, its raw bytes (for hashing). */
export interface ReadImages {
  images: IdxImages;
  /** The file's bytes as stored (gzipped or not) when read whole; null after a prefix read. */
  raw: Uint8Array | null;
}

/** Largest IDX header: magic plus four dimensions. */
const MAX_HEADER = 4 + 4 * 4;

/** Reads a whole file, turning I/O failures into E_DATA errors that name `role` and the fix. */
export async function readWhole(path: string, role: string, fix: string): Promise<Uint8Array> {
  try {
    const b = await readFile(path);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  } catch (err) {
    throw ioError(err, path, role, fix);
  }
}

function ioError(err: unknown, path: string, role: string, fix: string): KdqError {
  if (err instanceof KdqError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  const why = code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? (err as Error).message})`;
  return new KdqError('E_DATA', `${role} '${path}' ${why}; ${fix}`, { cause: err });
}

/**
 * Reads the images of an IDX file (gzipped or not). With `limit`, only the first `limit` images
 * are decoded; the header, the magic and the file's length are checked all the same.
 */
export async function readIdxImages(path: string, limit: number | null, role: string, fix: string): Promise<ReadImages> {
  if (limit === null) {
    const raw = await readWhole(path, role, fix);
    return { images: parseIdxImages(await inflateIfGzip(raw, path), path), raw };
  }
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    throw ioError(err, path, role, fix);
  }
  try {
    const size = (await fh.stat()).size;
    const head = new Uint8Array(Math.min(size, MAX_HEADER));
    await fh.read(head, 0, head.length, 0);
    if (isGzip(head)) {
      const images = await readGzipPrefix(path, limit, size, fh);
      if (images) return { images, raw: null };
      // The trailer disagrees with the header: read it all, so the error says exactly what is wrong.
      const raw = await readWhole(path, role, fix);
      return { images: parseIdxImages(await inflateIfGzip(raw, path), path), raw };
    }
    const header = parseIdxHeader(head, path, 'image');
    checkIdxLength(header, size, path);
    const per = header.dims.slice(1).reduce((a, b) => a * b, 1);
    const n = Math.min(limit, header.dims[0]);
    const pixels = new Uint8Array(n * per);
    const { bytesRead } = await fh.read(pixels, 0, pixels.length, header.offset);
    if (bytesRead !== pixels.length) checkIdxLength(header, header.offset + bytesRead, path); // shrank while we read
    return { images: imagesFromHeader(header, pixels), raw: null };
  } catch (err) {
    throw ioError(err, path, role, fix);
  } finally {
    await fh.close();
  }
}

/**
 * Inflates just enough of a gzipped IDX file for the first `limit` images. Returns null when the
 * gzip trailer's ISIZE (inflated length mod 2^32) does not match the header's length, so the caller
 * can read the file whole to report the exact problem.
 */
async function readGzipPrefix(
  path: string,
  limit: number,
  size: number,
  fh: Awaited<ReturnType<typeof open>>,
): Promise<IdxImages | null> {
  const trailer = new Uint8Array(4);
  if (size >= 18) await fh.read(trailer, 0, 4, size - 4);
  const isize = new DataView(trailer.buffer).getUint32(0, true);

  const chunks: Buffer[] = [];
  let have = 0;
  let need = MAX_HEADER; // until the header is known
  let header: ReturnType<typeof parseIdxHeader> | null = null;
  const source = createReadStream(path, { highWaterMark: 1 << 16 });
  const gunzip = createGunzip();
  try {
    for await (const chunk of source.pipe(gunzip) as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      have += chunk.length;
      if (!header && have >= MAX_HEADER) {
        header = parseIdxHeader(Buffer.concat(chunks), path, 'image');
        const per = header.dims.slice(1).reduce((a, b) => a * b, 1);
        need = header.offset + Math.min(limit, header.dims[0]) * per;
      }
      if (header && have >= need) break;
    }
  } catch (err) {
    if (err instanceof KdqError) throw err;
    throw new KdqError(
      'E_DATA',
      `'${path}' starts like a gzip file but does not inflate (${(err as Error).message}); the file is truncated or corrupt: download or copy it again`,
      { cause: err },
    );
  } finally {
    source.destroy();
    gunzip.destroy();
  }
  const bytes = Buffer.concat(chunks);
  if (!header) {
    // The whole inflated file is shorter than MAX_HEADER (a 3-dimensional header and no images).
    header = parseIdxHeader(bytes, path, 'image');
    need = header.offset;
  }
  if (isize !== header.length % 2 ** 32) return null;
  if (bytes.length < need) checkIdxLength(header, bytes.length, path);
  const pixels = new Uint8Array(bytes.buffer, bytes.byteOffset + header.offset, need - header.offset);
  return imagesFromHeader(header, pixels);
}
