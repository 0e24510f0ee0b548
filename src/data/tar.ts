/**
 * A minimal streaming tar reader, enough to unpack a dataset archive (ustar, GNU long names, pax
 * path and size records). It reads 512-byte headers and streams each member's body to a file the
 * caller picks by name, so a 170 MB archive never sits in memory whole. It writes nothing outside
 * the paths `pick` returns: member names never become paths by themselves.
 */
import { open } from 'node:fs/promises';
import { badFile, bytes } from './formats/bad-file.ts';

const BLOCK = 512;
const FIX = 'the archive is corrupt or not a tar file: download it again';

/** Pulls exact byte counts out of a stream of chunks. */
class ByteQueue {
  private chunks: Uint8Array[] = [];
  private have = 0;
  /** Bytes consumed so far: the offset in the (inflated) archive, for errors. */
  offset = 0;
  private done = false;
  constructor(private readonly source: AsyncIterator<Uint8Array>) {}

  private async fill(n: number): Promise<void> {
    while (this.have < n && !this.done) {
      const next = await this.source.next();
      if (next.done) this.done = true;
      else if (next.value.length > 0) {
        this.chunks.push(next.value);
        this.have += next.value.length;
      }
    }
  }

  /** Up to `n` bytes (fewer only at the end of the stream), handed to `sink` chunk by chunk. */
  async take(n: number, sink: (chunk: Uint8Array) => Promise<void> | void): Promise<number> {
    let left = n;
    while (left > 0) {
      await this.fill(1);
      if (this.have === 0) break;
      const head = this.chunks[0];
      const part = head.length <= left ? head : head.subarray(0, left);
      if (part === head) this.chunks.shift();
      else this.chunks[0] = head.subarray(left);
      this.have -= part.length;
      this.offset += part.length;
      left -= part.length;
      await sink(part);
    }
    return n - left;
  }

  /** Exactly `n` bytes, or fewer at the end of the stream. */
  async read(n: number): Promise<Uint8Array> {
    const out = new Uint8Array(n);
    let at = 0;
    await this.take(n, (c) => {
      out.set(c, at);
      at += c.length;
    });
    return out.subarray(0, at);
  }
}

function cString(b: Uint8Array, from: number, len: number): string {
  const end = b.subarray(from, from + len).indexOf(0);
  return Buffer.from(b.subarray(from, end < 0 ? from + len : from + end)).toString('utf8');
}

function octal(b: Uint8Array, from: number, len: number): number {
  if (b[from] & 0x80) {
    // GNU base-256 for sizes past 8 GiB.
    let v = b[from] & 0x7f;
    for (let i = from + 1; i < from + len; i++) v = v * 256 + b[i];
    return v;
  }
  const s = cString(b, from, len).trim();
  if (s === '') return 0;
  return /^[0-7]+$/.test(s) ? parseInt(s, 8) : NaN;
}

function paxRecords(body: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  const text = Buffer.from(body).toString('utf8');
  let i = 0;
  while (i < text.length) {
    const sp = text.indexOf(' ', i);
    const len = parseInt(text.slice(i, sp), 10);
    if (!(len > 0) || sp < 0) break;
    const rec = text.slice(sp + 1, i + len - 1); // without the trailing newline
    const eq = rec.indexOf('=');
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    i += len;
  }
  return out;
}

/**
 * Reads the tar stream `source` (already inflated); for each regular file whose name `pick` maps
 * to a path, writes the body there. Returns the names written. `archive` names the file in errors.
 */
export async function extractTar(source: AsyncIterable<Uint8Array>, archive: string, pick: (name: string) => string | null): Promise<string[]> {
  const q = new ByteQueue(source[Symbol.asyncIterator]());
  const written: string[] = [];
  let longName: string | null = null;
  let pax: Record<string, string> = {};
  for (;;) {
    const at = q.offset;
    const h = await q.read(BLOCK);
    if (h.length === 0 && at > 0) return written; // end without the two zero blocks: tolerated, as GNU tar does
    if (h.length < BLOCK) throw badFile(archive, { byte: q.offset }, `the archive ends inside a ${BLOCK}-byte tar header`, FIX);
    if (h.every((v) => v === 0)) return written;
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i];
    const stored = octal(h, 148, 8);
    if (Number.isNaN(stored)) throw badFile(archive, { byte: at }, 'found no tar header (its checksum field is not an octal number)', FIX);
    if (stored !== sum) throw badFile(archive, { byte: at }, `tar header checksum ${stored}, but the header's bytes sum to ${sum}`, FIX);
    const type = String.fromCharCode(h[156] || 0x30);
    let name = cString(h, 0, 100);
    if (cString(h, 257, 6) === 'ustar' && h[263] === 0x30 && h[264] === 0x30) {
      const prefix = cString(h, 345, 155);
      if (prefix) name = `${prefix}/${name}`;
    }
    let size = octal(h, 124, 12);
    if (Number.isNaN(size)) throw badFile(archive, { byte: at + 124 }, `the size field of '${name}' is not an octal number`, FIX);
    if (type === 'L' || type === 'x' || type === 'g') {
      const body = await q.read(size);
      if (body.length < size) throw badFile(archive, { byte: q.offset }, `the archive ends inside the ${type} record of '${name}'`, FIX);
      await q.read((BLOCK - (size % BLOCK)) % BLOCK);
      if (type === 'L') longName = cString(body, 0, body.length);
      if (type === 'x') pax = paxRecords(body);
      continue;
    }
    if (longName !== null) name = longName;
    if (pax.path !== undefined) name = pax.path;
    if (pax.size !== undefined) size = Number(pax.size);
    longName = null;
    pax = {};
    const dest = type === '0' || type === '7' ? pick(name) : null;
    let got: number;
    if (dest === null) {
      got = await q.take(size, () => undefined);
    } else {
      const fh = await open(dest, 'w');
      try {
        got = await q.take(size, async (c) => {
          await fh.write(c);
        });
      } finally {
        await fh.close();
      }
      written.push(name);
    }
    if (got < size) {
      throw badFile(
        archive,
        { byte: q.offset },
        `the archive ends inside member '${name}' after ${bytes(got)} of its ${bytes(size)} bytes: it is truncated`,
        FIX,
      );
    }
    await q.take((BLOCK - (size % BLOCK)) % BLOCK, () => undefined);
  }
}
