import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KdqError } from '../../src/errors.ts';
import { Cache } from '../../src/pipeline/cache.ts';
import { CACHE_TAG, claimCacheRoot, inspectCacheRoot, TAG_TEXT } from '../../src/pipeline/cache-root.ts';

const K1 = 'ab'.repeat(32);
let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'kdq-cache-root-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function refusal(p: Promise<unknown>): Promise<KdqError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(KdqError);
  return e as KdqError;
}

/** A cache entry as an earlier kdq left it (committed through a Cache, then its tag removed). */
async function legacyCache(dir: string): Promise<void> {
  const cache = new Cache(dir);
  const tmp = await cache.tmpDir(K1);
  await writeFile(join(tmp, 'out.txt'), 'x');
  await cache.commit(K1, tmp, { stage: 'data' });
  await rm(join(dir, CACHE_TAG));
}

describe('cache root', () => {
  it('creates a missing cache with kdq CACHEDIR.TAG (the standard signature first, so backup tools skip it)', async () => {
    const dir = join(root, 'runs', '.cache');
    expect(await inspectCacheRoot(dir)).toEqual({ kind: 'missing' });
    await claimCacheRoot(dir);
    const tag = await readFile(join(dir, CACHE_TAG), 'utf8');
    expect(tag).toBe(TAG_TEXT);
    expect(tag.startsWith('Signature: 8a477f597d28d172789f06886806bc55')).toBe(true);
    expect(await readdir(dir)).toEqual([CACHE_TAG]); // the write check leaves nothing behind
    expect(await inspectCacheRoot(dir)).toEqual({ kind: 'kdq' });
  });

  it('adopts an empty folder and a cache of an earlier kdq (no tag), writing the tag', async () => {
    const empty = join(root, 'empty');
    await mkdir(empty);
    expect(await inspectCacheRoot(empty)).toEqual({ kind: 'adoptable' });
    await claimCacheRoot(empty);
    expect(await readdir(empty)).toEqual([CACHE_TAG]);

    const old = join(root, 'old');
    await legacyCache(old);
    // A temp folder and a lock named the way kdq names them are kdq's too.
    await mkdir(join(old, 'tmp', `${K1.slice(0, 12)}~host~12~0123abcd`), { recursive: true });
    await mkdir(join(old, 'locks'));
    await writeFile(join(old, 'locks', `${K1}.lock`), '{}');
    expect(await inspectCacheRoot(old)).toEqual({ kind: 'adoptable' });
    await claimCacheRoot(old);
    expect(await inspectCacheRoot(old)).toEqual({ kind: 'kdq' });
  });

  it('refuses, with exit 2 and the reason, a folder kdq did not make', async () => {
    const cases: [string, (dir: string) => Promise<void>, RegExp][] = [
      ['files of its own', async (d) => writeFile(join(d, 'passwd'), 'root:x:0:0'), /it holds "passwd", which kdq does not write/],
      [
        'a shard-like folder without manifest',
        async (d) => void (await mkdir(join(d, 'ab', 'abcdef0123456789abcdef'), { recursive: true })),
        /none of its folders "ab\/" holds a cache entry with a valid manifest.json/,
      ],
      [
        "another program's CACHEDIR.TAG",
        async (d) => writeFile(join(d, CACHE_TAG), 'Signature: 8a477f597d28d172789f06886806bc55\n# cargo\n'),
        /its CACHEDIR.TAG belongs to another program/,
      ],
      [
        'a tmp folder of other names',
        async (d) => void (await mkdir(join(d, 'tmp', 'photos'), { recursive: true })),
        /tmp holds "photos", which kdq does not write/,
      ],
    ];
    for (const [what, make, why] of cases) {
      const dir = join(root, what.replace(/\W+/g, '-'));
      await mkdir(dir);
      await make(dir);
      const before = (await readdir(dir, { recursive: true })).sort();
      const e = await refusal(claimCacheRoot(dir));
      expect(e.code, what).toBe('E_CACHE');
      expect(e.exitCode, what).toBe(2);
      expect(e.message, what).toMatch(new RegExp(`^${dir} is not a kdq cache: it has no kdq CACHEDIR.TAG and `));
      expect(e.message, what).toMatch(why);
      expect(e.message, what).toContain('point --cache-dir (or KDQ_CACHE_DIR) at a new or empty folder');
      expect((await readdir(dir, { recursive: true })).sort(), `${what}: nothing written`).toEqual(before);
    }
  });

  it('follows a symlinked root only into a kdq cache, and names the target when refusing', async () => {
    const standIn = join(root, 'etc');
    await mkdir(join(standIn, 'ab', 'abcdef0123456789abcdef'), { recursive: true });
    await writeFile(join(standIn, 'passwd'), 'root:x:0:0');
    await mkdir(join(root, 'runs'));
    const link = join(root, 'runs', '.cache');
    await symlink(standIn, link);
    const e = await refusal(new Cache(link).tmpDir(K1));
    expect(e.message).toMatch(new RegExp(`^${link} \\(a symlink to ${standIn}\\) is not a kdq cache`));
    expect((await readdir(standIn)).sort()).toEqual(['ab', 'passwd']);
    // Pointed at a kdq cache elsewhere (a bigger disk), it is used.
    const big = join(root, 'big-disk-cache');
    await claimCacheRoot(big);
    await rm(link);
    await symlink(big, link);
    await claimCacheRoot(link);
    expect(await new Cache(link).tmpDir(K1)).toContain(join(link, 'tmp'));
  });

  it('says a file is not a folder (exit 2)', async () => {
    const file = join(root, 'file');
    await writeFile(file, 'x');
    const e = await refusal(claimCacheRoot(file));
    expect(e.code).toBe('E_USAGE');
    expect(e.message).toBe(`the cache ${file} is not a folder; point --cache-dir (or KDQ_CACHE_DIR) at a folder, or at a path that does not exist yet`);
  });
});
