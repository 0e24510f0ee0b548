/**
 * A minimal zip reader, enough for .npz files: the central directory (zip64 included, which numpy
 * writes for large arrays), and members stored (numpy.savez) or deflated (savez_compressed).
 * Sizes come from the central directory; a deflated member never inflates past its declared size,
 * and every member's CRC-32 is checked, so a corrupt file is an error rather than wrong numbers.
 */
import type { FileHandle } from 'node:fs/promises';
import zlib from 'node:zlib';
import { badFile, bytes } from './formats/bad-file.ts';

export interface ZipEntry {
  name: string;
  /** 0 stored, 8 deflated. */
  method: number;
  crc32: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const FIX = 'the file is truncated or corrupt: write it again (numpy.savez or numpy.savez_compressed)';

async function readAt(fh: FileHandle, path: string, pos: number, len: number, what: string): Promise<Uint8Array> {
  const out = new Uint8Array(len);
  const { bytesRead } = await fh.read(out, 0, len, pos);
  if (bytesRead !== len) throw badFile(path, { byte: pos + bytesRead }, `the file ends inside ${what}`, FIX);
  return out;
}

const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);
const u64 = (v: DataView, at: number) => Number(v.getBigUint64(at, true));

/** The members of the zip file `path` (open as `fh`, `size` bytes long), by name. */
export async function readZipDirectory(fh: FileHandle, path: string, size: number): Promise<Map<string, ZipEntry>> {
  const tailLen = Math.min(size, 22 + 0xffff);
  const tail = await readAt(fh, path, size - tailLen, tailLen, 'the zip directory');
  const tv = view(tail);
  let at = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tv.getUint32(i, true) === EOCD && i + 22 + tv.getUint16(i + 20, true) === tail.length) {
      at = i;
      break;
    }
  }
  if (at < 0) {
    throw badFile(path, { byte: size }, 'found no zip end-of-central-directory record at the end: not a .npz (zip) file, or a truncated one', FIX);
  }
  let count = tv.getUint16(at + 10, true);
  let cdSize = tv.getUint32(at + 12, true);
  let cdOffset = tv.getUint32(at + 16, true);
  const eocdPos = size - tailLen + at;
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const loc = view(await readAt(fh, path, eocdPos - 20, 20, 'the zip64 locator'));
    if (loc.getUint32(0, true) !== ZIP64_LOCATOR) throw badFile(path, { byte: eocdPos - 20 }, 'expected a zip64 locator before the end record', FIX);
    const z64Pos = u64(loc, 8);
    const z = view(await readAt(fh, path, z64Pos, 56, 'the zip64 end record'));
    if (z.getUint32(0, true) !== ZIP64_EOCD) throw badFile(path, { byte: z64Pos }, 'expected a zip64 end-of-central-directory record', FIX);
    count = u64(z, 32);
    cdSize = u64(z, 40);
    cdOffset = u64(z, 48);
  }
  if (cdOffset + cdSize > eocdPos) {
    throw badFile(
      path,
      { byte: cdOffset },
      `the central directory (${bytes(cdSize)} bytes at byte ${bytes(cdOffset)}) overlaps its end record: the file is corrupt`,
      FIX,
    );
  }
  const cd = await readAt(fh, path, cdOffset, cdSize, 'the central directory');
  const cv = view(cd);
  const entries = new Map<string, ZipEntry>();
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cd.length || cv.getUint32(p, true) !== CENTRAL) {
      throw badFile(path, { byte: cdOffset + p }, `expected central directory entry ${i + 1} of ${count}`, FIX);
    }
    const flags = cv.getUint16(p + 8, true);
    const nameLen = cv.getUint16(p + 28, true);
    const extraLen = cv.getUint16(p + 30, true);
    const commentLen = cv.getUint16(p + 32, true);
    const name = Buffer.from(cd.subarray(p + 46, p + 46 + nameLen)).toString('utf8');
    const e: ZipEntry = {
      name,
      method: cv.getUint16(p + 10, true),
      crc32: cv.getUint32(p + 16, true),
      compressedSize: cv.getUint32(p + 20, true),
      size: cv.getUint32(p + 24, true),
      localHeaderOffset: cv.getUint32(p + 42, true),
    };
    // Zip64 extra field: the 64-bit values of exactly those fields that hold 0xffffffff, in this order.
    let x = p + 46 + nameLen;
    const xEnd = x + extraLen;
    while (x + 4 <= xEnd) {
      const id = cv.getUint16(x, true);
      const len = cv.getUint16(x + 2, true);
      if (id === 0x0001) {
        let f = x + 4;
        if (e.size === 0xffffffff) {
          e.size = u64(cv, f);
          f += 8;
        }
        if (e.compressedSize === 0xffffffff) {
          e.compressedSize = u64(cv, f);
          f += 8;
        }
        if (e.localHeaderOffset === 0xffffffff) e.localHeaderOffset = u64(cv, f);
      }
      x += 4 + len;
    }
    if (flags & 1) throw badFile(path, { entry: name }, 'the member is encrypted', 'write the file without a password');
    entries.set(name, e);
    p = xEnd + commentLen;
  }
  return entries;
}

/** Where a member's data starts: after its local header, whose name and extra lengths may differ from the directory's. */
async function dataStart(fh: FileHandle, path: string, e: ZipEntry): Promise<number> {
  const h = view(await readAt(fh, path, e.localHeaderOffset, 30, `the local header of ${e.name}`));
  if (h.getUint32(0, true) !== LOCAL) throw badFile(path, { byte: e.localHeaderOffset }, `expected the local header of ${e.name}`, FIX);
  return e.localHeaderOffset + 30 + h.getUint16(26, true) + h.getUint16(28, true);
}

function checkMethod(path: string, e: ZipEntry): void {
  if (e.method !== 0 && e.method !== 8) {
    throw badFile(
      path,
      { entry: e.name },
      `compression method ${e.method}, expected 0 (stored) or 8 (deflated)`,
      'write the file with numpy.savez or numpy.savez_compressed',
    );
  }
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 of zip and gzip; zlib's (Node >= 20.15) when there, else a table-driven one. */
export function crc32(data: Uint8Array): number {
  const native = (zlib as unknown as { crc32?: (d: Uint8Array) => number }).crc32;
  if (native) return native(data) >>> 0;
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** The whole member, in a buffer of its own (byteOffset 0), checked against its size and CRC-32. */
export async function readZipEntry(fh: FileHandle, path: string, fileSize: number, e: ZipEntry): Promise<Uint8Array> {
  checkMethod(path, e);
  const start = await dataStart(fh, path, e);
  if (start + e.compressedSize > fileSize) {
    throw badFile(path, { entry: e.name, byte: fileSize - start }, `the file ends inside this member, which should have ${bytes(e.compressedSize)} bytes`, FIX);
  }
  let data = await readAt(fh, path, start, e.compressedSize, e.name);
  if (e.method === 8) {
    try {
      const out = zlib.inflateRawSync(data, { maxOutputLength: Math.max(1, e.size) });
      data = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
      if (data.byteOffset !== 0) data = data.slice();
    } catch (err) {
      const past = (err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE';
      throw badFile(
        path,
        { entry: e.name },
        past
          ? `the member inflates past the ${bytes(e.size)} bytes the zip directory declares (inflation stopped there)`
          : `the deflated data is corrupt (${(err as Error).message})`,
        FIX,
        err,
      );
    }
  }
  if (data.length !== e.size) {
    throw badFile(path, { entry: e.name, byte: data.length }, `the member ends here, but the zip directory declares ${bytes(e.size)} bytes`, FIX);
  }
  const crc = crc32(data);
  if (crc !== e.crc32) throw badFile(path, { entry: e.name }, `CRC-32 ${crc.toString(16)}, but the zip directory says ${e.crc32.toString(16)}`, FIX);
  return data;
}

/**
 * The first bytes of a member (at most `n`, fewer when it is shorter), without reading or inflating
 * the rest: enough for a header. Nothing is checked against the CRC here.
 */
export async function readZipEntryPrefix(fh: FileHandle, path: string, e: ZipEntry, n: number): Promise<Uint8Array> {
  checkMethod(path, e);
  const start = await dataStart(fh, path, e);
  if (e.method === 0) {
    const want = Math.min(n, e.compressedSize);
    const out = new Uint8Array(want);
    const { bytesRead } = await fh.read(out, 0, want, start);
    return out.subarray(0, bytesRead);
  }
  // Deflate never expands data by more than a few bytes per block, so n + 1024 compressed bytes
  // hold the first n inflated ones; and they cannot inflate to more than ~1032 times their size.
  const comp = new Uint8Array(Math.min(e.compressedSize, n + 1024));
  const { bytesRead } = await fh.read(comp, 0, comp.length, start);
  try {
    const out = zlib.inflateRawSync(comp.subarray(0, bytesRead), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    return new Uint8Array(out.buffer, out.byteOffset, Math.min(n, out.byteLength));
  } catch (err) {
    throw badFile(path, { entry: e.name }, `the deflated data is corrupt (${(err as Error).message})`, FIX, err);
  }
}
