import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KdqError } from '../../src/errors.ts';
import { DIGEST_INDEX_FILE, digestFile, digestFiles } from '../../src/data/file-digest.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kdq-digest-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

describe('digestFiles', () => {
  it('hashes a file and remembers it by (path, size, mtime)', async () => {
    const f = join(dir, 'a.bin');
    await writeFile(f, 'hello');
    const cache = join(dir, 'cache');
    const first = await digestFile(f, cache);
    expect(first).toEqual({ sha256: sha('hello'), size: 5, fromIndex: false });
    const index = JSON.parse(await readFile(join(cache, DIGEST_INDEX_FILE), 'utf8'));
    expect(index.entries[f]).toMatchObject({ size: 5, sha256: sha('hello') });
    expect((await digestFile(f, cache)).fromIndex).toBe(true);
  });

  it('a memo hit does not read the file: same size and mtime with new bytes still gives the old digest', async () => {
    // This is the memo's contract (and its documented trust): proof that the second call read nothing.
    const f = join(dir, 'b.bin');
    await writeFile(f, 'AAAA');
    const cache = join(dir, 'cache');
    // A whole-second time, so that setting it again restores mtimeMs exactly.
    const mtime = new Date(Math.floor(Date.now() / 1000) * 1000 - 5000);
    await utimes(f, mtime, mtime);
    await digestFile(f, cache);
    await writeFile(f, 'BBBB');
    await utimes(f, mtime, mtime);
    expect((await digestFile(f, cache)).sha256).toBe(sha('AAAA'));
  });

  it('re-hashes when the mtime or the size changes', async () => {
    const f = join(dir, 'c.bin');
    await writeFile(f, 'one');
    const cache = join(dir, 'cache');
    await digestFile(f, cache);
    await writeFile(f, 'two');
    const old = new Date(Date.now() - 60_000);
    await utimes(f, old, old);
    expect(await digestFile(f, cache)).toEqual({ sha256: sha('two'), size: 3, fromIndex: false });
    await writeFile(f, 'three');
    await utimes(f, old, old);
    expect(await digestFile(f, cache)).toEqual({ sha256: sha('three'), size: 5, fromIndex: false });
  });

  it('without a cache folder remembers digests in this process only', async () => {
    const f = join(dir, 'd.bin');
    await writeFile(f, 'x');
    const t = new Date(Math.floor(Date.now() / 1000) * 1000 - 5000);
    await utimes(f, t, t);
    expect((await digestFile(f)).fromIndex).toBe(false);
    expect((await digestFile(f)).fromIndex).toBe(true);
    expect(await readdir(dir)).toEqual(['d.bin']);
    await writeFile(f, 'y');
    expect(await digestFile(f)).toEqual({ sha256: sha('y'), size: 1, fromIndex: false });
    // A cache folder given later is filled from memory, without reading the file.
    const cache = join(dir, 'cache');
    expect((await digestFile(f, cache)).fromIndex).toBe(true);
    const index = JSON.parse(await readFile(join(cache, DIGEST_INDEX_FILE), 'utf8'));
    expect(index.entries[f].sha256).toBe(sha('y'));
  });

  it('treats a corrupt index as empty and rewrites it', async () => {
    const f = join(dir, 'e.bin');
    await writeFile(f, 'data');
    const cache = join(dir, 'cache');
    await digestFile(f, cache);
    await writeFile(join(cache, DIGEST_INDEX_FILE), '{ not json');
    expect((await digestFile(f, cache)).sha256).toBe(sha('data'));
    const index = JSON.parse(await readFile(join(cache, DIGEST_INDEX_FILE), 'utf8'));
    expect(index.entries[f].sha256).toBe(sha('data'));
  });

  it('keeps entries of several files in one index', async () => {
    const cache = join(dir, 'cache');
    const files = ['p', 'q', 'r'].map((n) => ({ path: join(dir, n), role: n }));
    for (const { path } of files) await writeFile(path, path);
    const out = await digestFiles(files, cache);
    expect(out.map((d) => d.sha256)).toEqual(files.map((f) => sha(f.path)));
    expect((await digestFiles(files, cache)).every((d) => d.fromIndex)).toBe(true);
  });

  it('names a missing file and its role', async () => {
    const err = await digestFile(join(dir, 'nope'), undefined, 'data.files.trainImages').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KdqError);
    expect((err as KdqError).code).toBe('E_DATA');
    expect((err as Error).message).toBe(
      `data.files.trainImages '${join(dir, 'nope')}' does not exist; check the path (relative paths are relative to the experiment file)`,
    );
  });
});
