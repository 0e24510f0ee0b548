/** The minimal zip reader on archives built here byte by byte: zip64 records, a deflate bomb, a bad CRC. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { crc32, readZipDirectory, readZipEntry, readZipEntryPrefix } from '../../src/data/zip.ts';
import { dataError, tempDir } from './formats/fixtures.ts';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir('zip')));
afterEach(() => cleanup());

interface Member {
  name: string;
  data: Buffer;
  deflate?: boolean;
  /** Uncompressed size written in the central directory (default: the data's length). */
  declared?: number;
  crc?: number;
}

/** A zip file; with `zip64`, the central directory entries and end record use zip64 fields. */
function zip(members: Member[], zip64 = false): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const m of members) {
    const body = m.deflate ? deflateRawSync(m.data) : m.data;
    const name = Buffer.from(m.name);
    const crc = m.crc ?? crc32(m.data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(m.deflate ? 8 : 0, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(m.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    locals.push(local, name, body);
    const c = Buffer.alloc(46);
    c.writeUInt32LE(0x02014b50, 0);
    c.writeUInt16LE(m.deflate ? 8 : 0, 10);
    c.writeUInt32LE(crc, 16);
    const extra = Buffer.alloc(zip64 ? 28 : 0);
    if (zip64) {
      c.writeUInt32LE(0xffffffff, 20);
      c.writeUInt32LE(0xffffffff, 24);
      c.writeUInt32LE(0xffffffff, 42);
      extra.writeUInt16LE(1, 0);
      extra.writeUInt16LE(24, 2);
      extra.writeBigUInt64LE(BigInt(m.declared ?? m.data.length), 4);
      extra.writeBigUInt64LE(BigInt(body.length), 12);
      extra.writeBigUInt64LE(BigInt(offset), 20);
    } else {
      c.writeUInt32LE(body.length, 20);
      c.writeUInt32LE(m.declared ?? m.data.length, 24);
      c.writeUInt32LE(offset, 42);
    }
    c.writeUInt16LE(name.length, 28);
    c.writeUInt16LE(extra.length, 30);
    centrals.push(c, name, extra);
    offset += 30 + name.length + body.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  const tail: Buffer[] = [];
  if (zip64) {
    const z = Buffer.alloc(56);
    z.writeUInt32LE(0x06064b50, 0);
    z.writeBigUInt64LE(44n, 4);
    z.writeBigUInt64LE(BigInt(members.length), 24);
    z.writeBigUInt64LE(BigInt(members.length), 32);
    z.writeBigUInt64LE(BigInt(cd.length), 40);
    z.writeBigUInt64LE(BigInt(offset), 48);
    const loc = Buffer.alloc(20);
    loc.writeUInt32LE(0x07064b50, 0);
    loc.writeBigUInt64LE(BigInt(offset + cd.length), 8);
    tail.push(z, loc);
    end.writeUInt16LE(0xffff, 8);
    end.writeUInt16LE(0xffff, 10);
    end.writeUInt32LE(0xffffffff, 12);
    end.writeUInt32LE(0xffffffff, 16);
  } else {
    end.writeUInt16LE(members.length, 8);
    end.writeUInt16LE(members.length, 10);
    end.writeUInt32LE(cd.length, 12);
    end.writeUInt32LE(offset, 16);
  }
  return Buffer.concat([...locals, cd, ...tail, end]);
}

async function readAll(file: string): Promise<Map<string, Buffer>> {
  const fh = await open(file, 'r');
  try {
    const size = (await fh.stat()).size;
    const out = new Map<string, Buffer>();
    for (const [name, e] of await readZipDirectory(fh, file, size)) out.set(name, Buffer.from(await readZipEntry(fh, file, size, e)));
    return out;
  } finally {
    await fh.close();
  }
}

describe('zip reader', () => {
  const a = Buffer.from('stored member');
  const b = Buffer.alloc(5000, 3);

  it('reads stored and deflated members, with plain and zip64 directories', async () => {
    for (const zip64 of [false, true]) {
      const f = join(dir, `z${zip64}.zip`);
      await writeFile(
        f,
        zip(
          [
            { name: 'a.npy', data: a },
            { name: 'b.npy', data: b, deflate: true },
          ],
          zip64,
        ),
      );
      const m = await readAll(f);
      expect([...m.keys()]).toEqual(['a.npy', 'b.npy']);
      expect(m.get('a.npy')).toEqual(a);
      expect(m.get('b.npy')).toEqual(b);
    }
  });

  it('reads a prefix of a deflated member without inflating the rest', async () => {
    const f = join(dir, 'p.zip');
    const big = Buffer.concat([Buffer.from('HEADER'), Buffer.alloc(1 << 20)]);
    await writeFile(f, zip([{ name: 'x.npy', data: big, deflate: true }]));
    const fh = await open(f, 'r');
    try {
      const e = (await readZipDirectory(fh, f, (await fh.stat()).size)).get('x.npy');
      expect(Buffer.from(await readZipEntryPrefix(fh, f, e!, 6)).toString()).toBe('HEADER');
    } finally {
      await fh.close();
    }
  });

  it('stops a deflate bomb at the size the directory declares', async () => {
    const f = join(dir, 'bomb.zip');
    // Without the bound the member would inflate whole and fail later as shorter/longer than declared.
    await writeFile(f, zip([{ name: 'x.npy', data: Buffer.alloc(32 << 20), deflate: true, declared: 1000 }]));
    expect(await dataError(readAll(f))).toBe(
      `'${f}' entry x.npy: the member inflates past the 1,000 bytes the zip directory declares (inflation stopped there); ` +
        'the file is truncated or corrupt: write it again (numpy.savez or numpy.savez_compressed)',
    );
  });

  it('rejects a member whose CRC-32 disagrees', async () => {
    const f = join(dir, 'crc.zip');
    await writeFile(f, zip([{ name: 'a.npy', data: a, crc: 1234 }]));
    expect(await dataError(readAll(f))).toContain(`'${f}' entry a.npy: CRC-32 ${crc32(a).toString(16)}, but the zip directory says 4d2`);
  });

  it('computes the zip CRC-32', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
  });
});
