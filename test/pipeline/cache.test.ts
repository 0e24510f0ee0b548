import { mkdtemp, mkdir, readdir, readFile, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Cache } from '../../src/pipeline/cache.ts';
import { KdqError } from '../../src/errors.ts';
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
    // Old enough counts as abandoned even when its owner cannot be checked (another host)...
    const old = join(root, 'cache', 'tmp', `${K1.slice(0, 12)}~elsewhere~1~0123abcd`);
    await mkdir(old);
    await utimes(old, new Date(0), new Date(0));
    // ...but only when kdq named it: anything else in tmp/ is not kdq's to delete.
    const other = join(root, 'cache', 'tmp', 'something-else');
    await mkdir(other);
    await utimes(other, new Date(0), new Date(0));
    expect((await cache.cleanTmp()).removed).toEqual([old]);
    expect(await readdir(join(root, 'cache', 'tmp'))).toEqual(['something-else']);
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

  it('lists entries, and gc removes the entries no run folder refers to', async () => {
    await put(K1, { 'a.txt': 'aaaa' });
    const d2 = await put(K2, { 'b.txt': 'bb' });
    const list = await cache.list();
    expect(list.map((e) => e.key)).toEqual([K1, K2]);
    expect(list[1].meta).toEqual({ stage: 'toy' });
    const manifestBytes = (await stat(join(d2, MANIFEST_FILE))).size;
    expect(list[1].bytes).toBe(2 + manifestBytes);

    // Both are referenced: nothing goes, and two referenced entries are counted as kept.
    expect(await cache.gc({ referenced: new Set([K1, K2]) })).toMatchObject({ removed: [], freedBytes: 0, keptReferenced: 2 });
    const gone = await cache.gc({ referenced: new Set([K1]) });
    expect(gone).toMatchObject({ removed: [K2], freedBytes: 2 + manifestBytes, keptReferenced: 1, foreign: [] });
    expect((await cache.list()).map((e) => e.key)).toEqual([K1]);
    expect(await cache.get(K2)).toBeNull();
  });

  it('gc also deletes lock files of dead processes but keeps live ones', async () => {
    const locks = join(root, 'cache', 'locks');
    await mkdir(locks, { recursive: true });
    const { hostname } = await import('node:os');
    await writeFile(join(locks, `${K1}.lock`), JSON.stringify({ pid: 999999999, host: hostname(), time: '', token: 'a' }));
    await writeFile(join(locks, `${K2}.lock`), JSON.stringify({ pid: process.pid, host: hostname(), time: '', token: 'b' }));
    await cache.gc({ referenced: new Set() });
    expect(await readdir(locks)).toEqual([`${K2}.lock`]);
  });
});

/** Overwrites a file with same-size content and puts its mtime back, the blind spot of the cheap check. */
async function tamper(path: string, text: string): Promise<void> {
  const st = await stat(path);
  await writeFile(path, text);
  await utimes(path, st.atime, st.mtime);
}

describe('Cache: what a run relies on', () => {
  it('get({ deep }) re-hashes every file, catching a same-size edit that kept the mtime', async () => {
    // A whole-second mtime, so that utimes can restore it exactly after the edit.
    const dir = await put(K1, { 'model.tflite': 'good-bytes' }, new Date('2026-01-02T03:04:05Z'));
    await tamper(join(dir, 'model.tflite'), 'evil-bytes');
    expect(await cache.get(K1)).toBe(dir); // the cheap check cannot see it...
    expect(await cache.get(K1, { deep: true })).toBeNull(); // ...the deep one does, and heals
    expect(warnings).toEqual([expect.stringMatching(/model.tflite has sha256 .*, manifest says .*; deleting it/)]);
  });

  it('readOutput copies an entry file only when its bytes match the manifest, and heals the entry otherwise', async () => {
    const dir = await put(K1, { 'model.tflite': 'good-bytes', 'sub/x.json': '{}' });
    expect(new TextDecoder().decode(await cache.readOutput(dir, 'model.tflite'))).toBe('good-bytes');
    expect(new TextDecoder().decode(await cache.readOutput(dir, join('sub', 'x.json')))).toBe('{}');
    await tamper(join(dir, 'model.tflite'), 'evil-bytes');
    const e = await cache.readOutput(dir, 'model.tflite').catch((err: unknown) => err);
    expect(e).toBeInstanceOf(KdqError);
    expect((e as KdqError).message).toMatch(
      new RegExp(
        `^cache entry ${dir} changed after this run checked it \\(model.tflite has sha256 .*\\), so ${join(dir, 'model.tflite')} was not copied; the entry is deleted: rerun to recompute it$`,
      ),
    );
    await expect(stat(dir)).rejects.toThrow(/ENOENT/);
    expect(warnings).toHaveLength(1);
    // A folder that is not an entry (a scratch folder of the report) is read as it is.
    const scratch = join(root, 'scratch');
    await mkdir(scratch);
    await writeFile(join(scratch, 'report.md'), '# r');
    expect(new TextDecoder().decode(await cache.readOutput(scratch, 'report.md'))).toBe('# r');
  });

  it('discardDamaged deletes the entry holding a file, and nothing outside the cache', async () => {
    const dir = await put(K1, { 'sub/eval.json': 'x{}' });
    expect(await cache.discardDamaged(join(dir, 'sub', 'eval.json'), 'not valid JSON')).toBe(true);
    expect(warnings).toEqual([`cache entry ${K1} at ${dir} is corrupt (sub/eval.json: not valid JSON); deleting it, the stage will be recomputed`]);
    await expect(stat(dir)).rejects.toThrow(/ENOENT/);
    const elsewhere = join(root, 'other', K2);
    await mkdir(elsewhere, { recursive: true });
    expect(await cache.discardDamaged(join(elsewhere, 'eval.json'), 'x')).toBe(false);
    expect((await stat(elsewhere)).isDirectory()).toBe(true);
  });

  it('verify re-hashes every entry, removes the damaged ones, leaves foreign folders, and does not count as use', async () => {
    const d1 = await put(K1, { 'a.bin': 'aaaa' });
    const d2 = await put(K2, { 'b.bin': 'bbbb' });
    const old = new Date('2020-01-01T00:00:00Z');
    await utimes(d1, old, old);
    await tamper(join(d2, 'b.bin'), 'bxbb');
    const foreign = join(root, 'cache', '33', '3'.repeat(20));
    await mkdir(foreign, { recursive: true });
    const r = await cache.verify();
    expect(r).toMatchObject({ intact: 1, removed: [{ key: K2, problems: [expect.stringMatching(/b.bin has sha256/)] }], foreign: [foreign] });
    expect((await stat(d1)).mtimeMs).toBe(old.getTime());
    await expect(stat(d2)).rejects.toThrow(/ENOENT/);
    expect((await stat(foreign)).isDirectory()).toBe(true);
  });
});

describe('Cache.gc', () => {
  it('deletes only entries with a valid manifest of their own key; everything else is listed as foreign and kept', async () => {
    const c = join(root, 'cache');
    await put(K1, { 'a.txt': 'a' });
    const noManifest = join(c, '33', '3'.repeat(64));
    await mkdir(noManifest, { recursive: true });
    await writeFile(join(noManifest, 'thesis.tex'), 'mine');
    const wrongKey = join(c, '44', '4'.repeat(64));
    await mkdir(wrongKey, { recursive: true });
    await writeFile(join(wrongKey, MANIFEST_FILE), JSON.stringify({ format: 1, key: K1, files: {} }));
    const target = join(root, 'elsewhere');
    await mkdir(target);
    await writeFile(join(target, 'keep.txt'), 'x');
    await symlink(target, join(c, '55'));
    await symlink(target, join(c, '11', '1'.repeat(20)));
    await mkdir(join(c, 'notes'));
    const r = await cache.gc({ referenced: new Set() });
    expect(r.removed).toEqual([K1]);
    expect(r.foreign.sort()).toEqual([noManifest, wrongKey, join(c, '55'), join(c, '11', '1'.repeat(20)), join(c, 'notes')].sort());
    expect(await readFile(join(noManifest, 'thesis.tex'), 'utf8')).toBe('mine');
    expect(await readdir(target)).toEqual(['keep.txt']);
    expect((await readdir(c)).sort()).toEqual(['11', '33', '44', '55', 'CACHEDIR.TAG', 'notes', 'tmp']);
  });

  it("keeps what a live run may read, a failed run's work unless asked, and drops unused entries with olderThanMs", async () => {
    const now = Date.now();
    const at = async (key: string, ageMs: number) => {
      const dir = await put(key, { 'o.txt': key.slice(0, 1) });
      const t = new Date(now - ageMs);
      await utimes(dir, t, t);
    };
    const [K3, K4, K5] = ['3'.repeat(64), '4'.repeat(64), '5'.repeat(64)];
    await at(K1, 10 * 86400_000); // referenced, unused for 10 days
    await at(K2, 5 * 86400_000); // unreferenced, old
    await at(K3, 3600_000); // unreferenced, used an hour ago (by the failed run)
    await at(K4, 60_000); // unreferenced, used a minute ago (by the live run)
    await at(K5, 1000); // referenced, fresh
    const keys = async () => (await cache.list()).map((e) => e.key);
    const referenced = new Set([K1, K5]);
    const live = now - 120_000;
    const failed = now - 2 * 3600_000;

    // Default: the unreferenced entry older than both runs goes.
    let r = await cache.gc({ referenced, inUseSinceMs: live, failedRunSinceMs: failed, now });
    expect(r).toMatchObject({ removed: [K2], keptReferenced: 2, keptForRuns: 2 });
    // --older-than 30m: also the failed run's and the referenced entries not used for 30 minutes; never the live run's.
    r = await cache.gc({ referenced, inUseSinceMs: live, failedRunSinceMs: failed, olderThanMs: 30 * 60_000, now });
    expect(r.removed).toEqual([K1, K3]);
    expect(await keys()).toEqual([K4, K5]);
    // --older-than 0s without any run: everything.
    r = await cache.gc({ referenced, olderThanMs: 0, now });
    expect(r.removed).toEqual([K4, K5]);
  });
});
