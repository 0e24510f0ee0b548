/**
 * Reading a file that may be gzipped (detected from its first two bytes, since names like `.gz`
 * are often wrong after a download) whose header says how long the whole inflated file is. The
 * inflated bytes go straight into one buffer of exactly that length; inflation streams and stops
 * as soon as the output would pass it, so a gzip bomb (a few KB inflating to gigabytes) costs no
 * more memory than the file its header promises, and a plain or gzipped file of the wrong length
 * is an error naming the byte where it went wrong.
 */
import { createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import { badFile, bytes, unreadable } from './bad-file.ts';

/** What the header at the start of a file promises about the whole (inflated) file. */
export interface Promised {
  /** Exact length in bytes of the inflated file, header included. */
  total: number;
  /** The promise in words, for errors: e.g. `its header (60000 x 28 x 28, uint8)`. */
  by: string;
}

export interface InflatedFile {
  /** The whole inflated file, in a buffer of its own (byteOffset 0). */
  bytes: Uint8Array;
  gzipped: boolean;
}

/** The most deflate can shrink data: about 1032 to 1 (RFC 1951 blocks of 258-byte matches). */
const MAX_DEFLATE_RATIO = 1032;
/** kdq keeps each file in one typed array; past this it is not a file kdq can hold. */
const MAX_TOTAL = 2 ** 32;

export function isGzip(head: Uint8Array): boolean {
  return head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;
}

async function openOrThrow(path: string, fix: string): Promise<FileHandle> {
  try {
    return await open(path, 'r');
  } catch (err) {
    throw unreadable(path, err, fix);
  }
}

function checkTotal(path: string, p: Promised, fix: string): void {
  if (!Number.isSafeInteger(p.total) || p.total > MAX_TOTAL) {
    throw badFile(path, { byte: 0 }, `${p.by} promises ${bytes(p.total)} bytes, more than the 4 GiB kdq holds in one array`, fix);
  }
}

/** The error for a file (or its inflated data) of `found` bytes where `p` promises another length. */
export function lengthError(path: string, found: number, p: Promised, fix: string, gzipped: boolean): Error {
  const what = gzipped ? 'inflated data' : 'file';
  if (found < p.total) {
    return badFile(path, { byte: found }, `the ${what} ends here, but ${p.by} promises ${bytes(p.total)} bytes: the file is truncated`, fix);
  }
  return badFile(
    path,
    { byte: p.total },
    `the ${what} goes on past the ${bytes(p.total)} bytes ${p.by} promises` +
      (gzipped ? ' (trailing data, or a gzip bomb: inflation stopped here)' : ' (trailing bytes)'),
    fix,
  );
}

/**
 * Reads the first `n` bytes of the file, inflated when it is gzipped (only as much is inflated as
 * `n` needs), and for a gzip file the ISIZE field of its trailer (inflated length mod 2^32).
 */
export async function readHead(path: string, n: number, fix: string): Promise<{ head: Uint8Array; gzipped: boolean; size: number; isize: number | null }> {
  const fh = await openOrThrow(path, fix);
  try {
    const size = (await fh.stat()).size;
    const raw = new Uint8Array(Math.min(size, Math.max(n, 2)));
    await fh.read(raw, 0, raw.length, 0);
    if (!isGzip(raw)) return { head: raw.subarray(0, Math.min(n, raw.length)), gzipped: false, size, isize: null };
    const trailer = new Uint8Array(4);
    if (size >= 18) await fh.read(trailer, 0, 4, size - 4);
    const isize = size >= 18 ? new DataView(trailer.buffer).getUint32(0, true) : null;
    return { head: await inflatePrefix(path, n, fix), gzipped: true, size, isize };
  } catch (err) {
    throw unreadable(path, err, fix);
  } finally {
    await fh.close();
  }
}

async function inflatePrefix(path: string, n: number, fix: string): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let have = 0;
  await streamGunzip(
    path,
    fix,
    () => have,
    (chunk) => {
      const take = Math.min(chunk.length, n - have);
      out.set(chunk.subarray(0, take), have);
      have += take;
      return have < n;
    },
  );
  return out.subarray(0, have);
}

/**
 * Inflates `path` chunk by chunk, handing each to `take` until it returns false or the data ends.
 * `inflated` tells how far the caller got, for the error when the gzip stream is corrupt.
 */
async function streamGunzip(path: string, fix: string, inflated: () => number, take: (chunk: Buffer) => boolean): Promise<void> {
  const source = createReadStream(path, { highWaterMark: 1 << 16 });
  const gunzip = createGunzip();
  source.on('error', (err) => gunzip.destroy(err));
  source.pipe(gunzip);
  try {
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      if (!take(chunk)) break;
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code?.startsWith('Z_') || (err as NodeJS.ErrnoException).code === 'ERR_ZLIB') {
      throw badFile(path, null, `the gzip data breaks off or is corrupt after ${bytes(inflated())} inflated bytes (${(err as Error).message})`, fix, err);
    }
    throw unreadable(path, err, fix);
  } finally {
    source.destroy();
    gunzip.destroy();
  }
}

/**
 * Reads the whole file, inflating it when gzipped. `promise` gets the first `headBytes` bytes (or
 * the whole file when shorter), checks them (throwing on a bad header) and says how long the file
 * must be. A file of any other length is an error; gzip inflation never goes past that length.
 */
export async function readInflated(path: string, headBytes: number, promise: (head: Uint8Array) => Promised, fix: string): Promise<InflatedFile> {
  const fh = await openOrThrow(path, fix);
  let size: number;
  let first: Uint8Array;
  try {
    size = (await fh.stat()).size;
    first = new Uint8Array(Math.min(size, Math.max(headBytes, 2)));
    await fh.read(first, 0, first.length, 0);
    if (!isGzip(first)) {
      const p = promise(first.subarray(0, Math.min(headBytes, first.length)));
      checkTotal(path, p, fix);
      if (size !== p.total) throw lengthError(path, size, p, fix, false);
      const out = new Uint8Array(p.total);
      const { bytesRead } = await fh.read(out, 0, p.total, 0);
      if (bytesRead !== p.total) throw lengthError(path, bytesRead, p, fix, false); // shrank while read
      return { bytes: out, gzipped: false };
    }
  } catch (err) {
    throw unreadable(path, err, fix);
  } finally {
    await fh.close();
  }
  return { bytes: await gunzipWhole(path, size, headBytes, promise, fix), gzipped: true };
}

async function gunzipWhole(path: string, size: number, headBytes: number, promise: (head: Uint8Array) => Promised, fix: string): Promise<Uint8Array> {
  const head = new Uint8Array(headBytes);
  let headHave = 0;
  /** Set once the header is read: the promise and the buffer of exactly its length. */
  let body: { p: Promised; out: Uint8Array; have: number } | null = null;
  let overflow = false;
  const accept = (): { p: Promised; out: Uint8Array; have: number } => {
    const p = promise(head.subarray(0, headHave));
    checkTotal(path, p, fix);
    if (p.total > (size + 64) * MAX_DEFLATE_RATIO) {
      throw badFile(
        path,
        { byte: 0 },
        `${p.by} promises ${bytes(p.total)} bytes, but ${bytes(size)} bytes of gzip cannot inflate to more than ${bytes(size * MAX_DEFLATE_RATIO)}: the file is truncated or its header is corrupt`,
        fix,
      );
    }
    const out = new Uint8Array(p.total);
    const have = Math.min(headHave, p.total);
    out.set(head.subarray(0, have));
    overflow = headHave > p.total;
    return { p, out, have };
  };
  await streamGunzip(
    path,
    fix,
    () => (body ? body.have : headHave),
    (chunk) => {
      let c = chunk;
      if (!body) {
        const take = Math.min(c.length, headBytes - headHave);
        head.set(c.subarray(0, take), headHave);
        headHave += take;
        c = c.subarray(take);
        if (headHave < headBytes) return true;
        body = accept();
      }
      if (overflow || body.have + c.length > body.out.length) {
        overflow = true;
        return false; // stop inflating: nothing past the promised length is ever produced into memory
      }
      body.out.set(c, body.have);
      body.have += c.length;
      return true;
    },
  );
  const b = body ?? accept(); // the whole inflated file is shorter than headBytes
  if (overflow) throw lengthError(path, b.p.total + 1, b.p, fix, true);
  if (b.have !== b.p.total) throw lengthError(path, b.have, b.p, fix, true);
  return b.out;
}
