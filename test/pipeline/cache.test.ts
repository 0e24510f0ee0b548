import { mkdtemp, mkdir, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Cache } from '../../src/pipeline/cache.ts';
import { MANIFEST_FILE } from '../../src/pipeline/manifest.ts';

const K1 = '1'.repeat(64);
const K2 = '2'.repeat(64);
let root: string;
let warnings: string[];
let cache: Cache;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'kdq-cache-'));
  warnings = [];
  cache = new Cache(join(root, 'cache'), { onWarn: (m) => warnings.push(m) });
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function put(key: string, files: Record<string, string>, mtime?: Date): Promise<string> {
  const tmp = await cache.tmpDir(key);
  for (const [rel, text] of Object.entries(files)) {
    await mkdir(join(tmp, rel, '..'), { recursive: true });
    await writeFile(join(tmp, rel), text);
    if (mtime) await utimes(join(tmp, rel), mtime, mtime);
  }
  return cache.commit(key, tmp, { stage: 'toy' });
}

describe('Cache', () => {
  it('commits a folder under <key[0..2]>/<key>/ with a manifest, and gets it back; a miss is null', async () => {
    expect(await cache.get(K1)).toBeNull();
    const dir = await put(K1, { 'a.txt': 'alpha', 'sub/b.bin': 'beta!' });
    expect(dir).toBe(join(root, 'cache', '11', K1));
    expect(await cache.get(K1)).toBe(dir);
    const m = JSON.parse(await readFile(join(dir, MANIFEST_FILE), 'utf8'));
    expect(m.key).toBe(K1);
    expect(m.meta).toEqual({ stage: 'toy' });
    expect(m.files['sub/b.bin']).toMatchObject({ size: 5, sha256: '2a7925b410e91b160241d42936368461f7e75b90ead55188bed24d595e428439' });
    expect(m.files['a.txt'].sha256).toBe('8ed3f6ad685b959ead7022518e1af76cd816f8e8ec7ccdda1ed4018e8f2223f8');
    expect(await readdir(join(root, 'cache', 'tmp'))).toEqual([]);
    expect(warnings).toEqual([]);
  });

  it('heals an entry with a flipped byte: warns, deletes it, reports a miss', async () => {
    const dir = await put(K1, { 'model.bin': 'abcdefgh' });
    // Same size, new content; wait so the mtime surely moves past the recorded one.
    await new Promise((r) => setTimeout(r, 30));
    await writeFile(join(dir, 'model.bin'), 'abcdXfgh');
    expect(await cache.get(K1)).toBeNull();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(new RegExp(`cache entry ${K1} .* corrupt \\(model.bin has sha256 .*\\); deleting it`));
    await expect(stat(dir)).rejects.toThrow(/ENOENT/);
    // Healed: committing again works and is a hit.
    await put(K1, { 'model.bin': 'abcdefgh' });
    expect(await cache.get(K1)).not.toBeNull();
  });

  it('checks sizes on every get, and hashes only files whose mtime moved unless deepVerify', async () => {
    const dir = await put(K1, { 'x.bin': '0123456789' });
    await writeFile(join(dir, 'x.bin'), '0123456789-');
    expect(await cache.get(K1)).toBeNull();
    expect(warnings[0]).toMatch(/x.bin has 11 bytes, manifest says 10/);

    // A whole-second mtime, so that utimes can restore it exactly after the edit.
    const t = new Date('2026-01-02T03:04:05Z');
    const dir2 = await put(K2, { 'y.bin': 'abc' }, t);
    await writeFile(join(dir2, 'y.bin'), 'abd');
    await utimes(join(dir2, 'y.bin'), t, t);
    // A same-size edit that restores the mtime is the documented blind spot of the cheap check...
    expect(await cache.get(K2)).toBe(dir2);
    // ...which deep verification catches.
    const deep = new Cache(join(root, 'cache'), { deepVerify: true, onWarn: (w) => warnings.push(w) });
    expect(await deep.get(K2)).toBeNull();
    expect(warnings[1]).toMatch(/y.bin has sha256/);
  });

  it('heals entries with a missing file, a missing or foreign manifest', async () => {
    const d1 = await put(K1, { 'a.txt': 'a', 'b.txt': 'b' });
    await rm(join(d1, 'b.txt'));
    expect(await cache.get(K1)).toBeNull();
    expect(warnings.at(-1)).toMatch(/b.txt is missing/);

    const d2 = await put(K2, { 'a.txt': 'a' });
    await writeFile(join(d2, MANIFEST_FILE), '{"format":1,"key":"' + K1 + '","files":{}}');
    expect(await cache.get(K2)).toBeNull();
    expect(warnings.at(-1)).toMatch(/belongs to key/);

    await mkdir(join(root, 'cache', '11', K1), { recursive: true });
    expect(await cache.get(K1)).toBeNull();
    expect(warnings.at(-1)).toMatch(/manifest.json is missing/);
    expect(warnings).toHaveLength(3);
  });

  it('never shows a half-written tmp folder as an entry, and cleans those of dead processes', async () => {
    const tmp = await cache.tmpDir(K1);
    await writeFile(join(tmp, 'half.bin'), 'half');
    expect(await cache.get(K1)).toBeNull();
    expect(await cache.list()).toEqual([]);
    // Ours (a live pid) is kept: it may still be in progress.
    expect((await cache.cleanTmp()).removed).toEqual([]);
    // A folder named after a dead pid on this host is abandoned.
    const dead = tmp.replace(`~${process.pid}~`, '~999999999~');
    await rm(tmp, { recursive: true });
    await mkdir(dead, { recursive: true });
    await writeFile(join(dead, 'half.bin'), 'half');
    expect(await cache.cleanTmp()).toEqual({ removed: [dead], freedBytes: 4 });
    // Old enough counts as abandoned whatever its name.
    const old = join(root, 'cache', 'tmp', 'something-else');
    await mkdir(old);
    await utimes(old, new Date(0), new Date(0));
    expect((await cache.cleanTmp()).removed).toEqual([old]);
  });

  it('does not heal an entry that was committed between two looks at it', async () => {
    // Regression (seen with two processes): a reader found no manifest, the other process renamed
    // the entry into place, and the reader then saw a folder "without manifest" and deleted it.
    const dir = await put(K1, { 'out.txt': 'fresh' });
    const looks = cache as unknown as { readManifest(d: string): Promise<string | null> };
    const real = looks.readManifest.bind(cache);
    let first = true;
    looks.readManifest = async (d) => {
      if (!first) return real(d);
      first = false;
      return null; // the read that happened just before the rename
    };
    expect(await cache.get(K1)).toBe(dir);
    expect(warnings).toEqual([]);
  });

  it('replaces an existing entry on a second commit (a forced rerun)', async () => {
    await put(K1, { 'out.txt': 'first' });
    const dir = await put(K1, { 'out.txt': 'second run' });
    expect(await readFile(join(dir, 'out.txt'), 'utf8')).toBe('second run');
    expect(await cache.get(K1)).toBe(dir);
    expect(await readdir(join(root, 'cache', 'tmp'))).toEqual([]);
  });

  it('refuses a stage output named manifest.json and keys that are not hex', async () => {
    const tmp = await cache.tmpDir(K1);
    await writeFile(join(tmp, MANIFEST_FILE), '{}');
    await expect(cache.commit(K1, tmp, {})).rejects.toThrow(/reserved for the cache/);
    await expect(cache.get('../../etc')).rejects.toThrow(/not a cache key/);
  });

  it('lists entries and gc removes all but the kept ones, honouring olderThanMs', async () => {
    await put(K1, { 'a.txt': 'aaaa' });
    const d2 = await put(K2, { 'b.txt': 'bb' });
    const list = await cache.list();
    expect(list.map((e) => e.key)).toEqual([K1, K2]);
    expect(list[1].meta).toEqual({ stage: 'toy' });
    const manifestBytes = (await stat(join(d2, MANIFEST_FILE))).size;
    expect(list[1].bytes).toBe(2 + manifestBytes);

    // Both are fresh: nothing is older than an hour.
    expect(await cache.gc({ keep: new Set(), olderThanMs: 3600_000 })).toEqual({ removed: [], freedBytes: 0 });
    const gone = await cache.gc({ keep: new Set([K1]) });
    expect(gone).toEqual({ removed: [K2], freedBytes: 2 + manifestBytes });
    expect((await cache.list()).map((e) => e.key)).toEqual([K1]);
    expect(await cache.get(K2)).toBeNull();
  });

  it('gc also deletes lock files of dead processes but keeps live ones', async () => {
    const locks = join(root, 'cache', 'locks');
    await mkdir(locks, { recursive: true });
    const { hostname } = await import('node:os');
    await writeFile(join(locks, `${K1}.lock`), JSON.stringify({ pid: 999999999, host: hostname(), time: '', token: 'a' }));
    await writeFile(join(locks, `${K2}.lock`), JSON.stringify({ pid: process.pid, host: hostname(), time: '', token: 'b' }));
    await cache.gc({ keep: new Set() });
    expect(await readdir(locks)).toEqual([`${K2}.lock`]);
  });
});
