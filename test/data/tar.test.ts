/** The minimal tar reader against archives GNU tar writes, in its three header formats. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { extractTar } from '../../src/data/tar.ts';
import { dataError, tempDir } from './formats/fixtures.ts';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir('tar')));
afterEach(() => cleanup());

const LONG = `${'deep-folder-name/'.repeat(8)}a-member-whose-path-is-longer-than-one-hundred-bytes.bin`;

/** Writes a tree with a small, an empty, an odd-sized and a long-named file, and tars it with GNU tar. */
async function makeArchive(format: string): Promise<Buffer> {
  const src = join(dir, 'src');
  await mkdir(join(src, 'top', ...LONG.split('/').slice(0, -1)), { recursive: true });
  await writeFile(join(src, 'top', 'small.txt'), 'hello\n');
  await writeFile(join(src, 'top', 'empty.bin'), '');
  await writeFile(join(src, 'top', 'odd.bin'), Buffer.alloc(1500, 7));
  await writeFile(join(src, 'top', LONG), Buffer.from('long name body'));
  execFileSync('tar', [`--format=${format}`, '-cf', join(dir, 'a.tar'), '-C', src, 'top']);
  return readFile(join(dir, 'a.tar'));
}

async function* chunks(b: Uint8Array, size: number): AsyncIterable<Uint8Array> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}

describe('extractTar', () => {
  for (const format of ['ustar', 'gnu', 'pax']) {
    it(`extracts picked members of a ${format} archive, whatever the chunk size`, async () => {
      const tar = await makeArchive(format);
      for (const size of [1, 511, 512, 4096, 1 << 20]) {
        const out = join(dir, `out-${size}`);
        await mkdir(out);
        const names = await extractTar(chunks(tar, size), 'a.tar', (name) => (name.endsWith('.bin') ? join(out, name.split('/').pop() as string) : null));
        expect(names.sort()).toEqual([`top/${LONG}`, 'top/empty.bin', 'top/odd.bin']);
        expect(await readFile(join(out, 'odd.bin'))).toEqual(Buffer.alloc(1500, 7));
        expect((await readFile(join(out, 'empty.bin'))).length).toBe(0);
        expect((await readFile(join(out, LONG.split('/').pop() as string))).toString()).toBe('long name body');
      }
    });
  }

  it('rejects a truncated archive, naming the member and byte', async () => {
    const tar = await makeArchive('gnu');
    const at = tar.indexOf(Buffer.alloc(1500, 7));
    const msg = await dataError(extractTar(chunks(tar.subarray(0, at + 1000), 4096), 'a.tar', () => null));
    expect(msg).toBe(
      `'a.tar' at byte ${at + 1000}: the archive ends inside member 'top/odd.bin' after 1,000 of its 1,500 bytes: it is truncated; the archive is corrupt or not a tar file: download it again`,
    );
  });

  it('rejects a file that is not a tar archive', async () => {
    const msg = await dataError(extractTar(chunks(Buffer.alloc(2048, 0x41), 512), 'x.tar', () => null));
    expect(msg).toContain(`'x.tar' at byte 0: found no tar header (its checksum field is not an octal number)`);
    const tar = await makeArchive('gnu');
    tar[600] ^= 1; // inside the second header
    expect(await dataError(extractTar(chunks(tar, 4096), 'a.tar', () => null))).toMatch(
      /'a\.tar' at byte 512: tar header checksum \d+, but the header's bytes sum to \d+/,
    );
  });
});
