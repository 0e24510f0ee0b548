/**
 * Content-addressed store of stage outputs, one folder per key: `<dir>/<key[0..2]>/<key>/`.
 * An entry is filled in `<dir>/tmp/<name>/`, gets its manifest last, and is renamed into place,
 * so a reader sees a whole entry or none. An entry that fails its manifest is warned about,
 * deleted and treated as a miss: never trusted, never fatal (DVC).
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { mkdir, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KdqError } from '../errors.ts';
import { describeFsError, isStorageError } from '../util/atomic.ts';
import { isProcessAlive, staleReason, type LockInfo } from './lock.ts';
import { buildManifest, MANIFEST_FILE, parseManifest, verifyManifest, type Manifest } from './manifest.ts';

export interface CacheEntryInfo {
  key: string;
  /** The entry folder. */
  dir: string;
  /** Total size of the entry's files, manifest included. */
  bytes: number;
  /** ISO time of the commit. */
  createdAt: string;
  /** Last commit or cache hit (the entry folder's mtime), for `gc --older-than`. */
  lastUsedMs: number;
  /** What the committer stored: stage id, kind, key details, seconds. */
  meta: object;
}

export interface CacheOptions {
  /** Told about corrupt entries (which are then deleted) and other recoverable oddities. */
  onWarn?: (msg: string) => void;
  /** Re-hash every file on `get` instead of only files whose mtime changed. */
  deepVerify?: boolean;
  /** A tmp folder older than this is abandoned even if its owner seems alive (default 24 h). */
  staleTmpMs?: number;
}

const KEY_RE = /^[0-9a-f]{16,128}$/;
const HOST = hostname();

export class Cache {
  readonly dir: string;
  private readonly opts: CacheOptions;

  constructor(dir: string, opts: CacheOptions = {}) {
    this.dir = dir;
    this.opts = opts;
  }

  /** Where the entry of `key` lives (whether or not it exists). */
  entryDir(key: string): string {
    checkKey(key);
    return join(this.dir, key.slice(0, 2), key);
  }

  /** The lock file guarding the computation of `key` (see lock.ts). */
  lockPath(key: string): string {
    checkKey(key);
    return join(this.dir, 'locks', `${key}.lock`);
  }

  /** The verified entry folder of `key`, or null on a miss (a miss is not an error). */
  async get(key: string): Promise<string | null> {
    const dir = this.entryDir(key);
    // Another process may commit (rename into place) or replace this entry while we look, so a
    // problem only counts when a second look at the manifest sees the same thing: healing on a
    // torn read would delete a fresh, valid entry.
    for (let look = 0; look < 3; look++) {
      const text = await this.readManifest(dir);
      if (text === null && !(await exists(dir))) return null; // the ordinary miss
      let problems: string[];
      if (text === null) problems = [`${MANIFEST_FILE} is missing`];
      else {
        const m = parseManifest(text, key);
        problems = typeof m === 'string' ? [m] : await verifyManifest(dir, m, this.opts.deepVerify);
      }
      if (problems.length === 0) {
        const now = new Date();
        await utimes(dir, now, now).catch(() => undefined); // last-used time for gc; best effort
        return dir;
      }
      if ((await this.readManifest(dir)) === text) {
        if (text === null && !(await exists(dir))) return null; // removed meanwhile: a plain miss
        await this.heal(key, dir, problems);
        return null;
      }
    }
    return null; // changing under us the whole time: a miss, and the caller's lock sorts it out
  }

  private async readManifest(dir: string): Promise<string | null> {
    try {
      return await readFile(join(dir, MANIFEST_FILE), 'utf8');
    } catch (e) {
      if (code(e) === 'ENOENT' || code(e) === 'ENOTDIR') return null;
      throw cacheError(`cannot read cache entry ${dir}`, e);
    }
  }

  /** A new empty folder to fill before `commit`; never visible as an entry. */
  async tmpDir(key: string): Promise<string> {
    checkKey(key);
    const dir = join(this.dir, 'tmp', `${key.slice(0, 12)}~${HOST}~${process.pid}~${randomBytes(4).toString('hex')}`);
    try {
      await mkdir(dir, { recursive: true });
    } catch (e) {
      throw cacheError(`cannot create a temp folder in the cache ${this.dir}`, e);
    }
    return dir;
  }

  /**
   * Makes `tmpDir` the entry of `key`: writes the manifest (every file's size and sha256) last,
   * then renames the folder into place. An existing entry for the key is replaced (a forced rerun).
   */
  async commit(key: string, tmpDir: string, meta: object): Promise<string> {
    const final = this.entryDir(key);
    const manifest = await buildManifest(tmpDir, key, meta);
    try {
      await writeFile(join(tmpDir, MANIFEST_FILE), JSON.stringify(manifest, null, 1));
      await mkdir(join(this.dir, key.slice(0, 2)), { recursive: true });
    } catch (e) {
      throw cacheError(`cannot write cache entry ${final}`, e);
    }
    for (let attempt = 0; ; attempt++) {
      try {
        await rename(tmpDir, final);
        return final;
      } catch (e) {
        if ((code(e) !== 'ENOTEMPTY' && code(e) !== 'EEXIST') || attempt >= 3) throw cacheError(`cannot commit cache entry ${final}`, e);
      }
      // Move the old entry aside first: a rename is atomic, deleting a folder is not.
      const trash = join(this.dir, 'tmp', `trash~${HOST}~${process.pid}~${randomBytes(4).toString('hex')}`);
      await rename(final, trash).catch((e) => {
        if (code(e) !== 'ENOENT') throw cacheError(`cannot replace cache entry ${final}`, e);
      });
      await rm(trash, { recursive: true, force: true });
    }
  }

  /** Throws away a temp folder (a failed or cancelled stage). */
  async discard(tmpDir: string): Promise<void> {
    await rm(tmpDir, { recursive: true, force: true });
  }

  /** Every valid-looking entry (manifest readable), sorted by key; files are not re-hashed. */
  async list(): Promise<CacheEntryInfo[]> {
    const out: CacheEntryInfo[] = [];
    for (const { key, dir, manifest } of await this.scan()) {
      if (!manifest) continue;
      const st = await stat(dir).catch(() => null);
      if (!st) continue;
      const bytes = Object.values(manifest.files).reduce((n, f) => n + f.size, 0);
      const mstat = await stat(join(dir, MANIFEST_FILE)).catch(() => null);
      out.push({ key, dir, bytes: bytes + (mstat?.size ?? 0), createdAt: manifest.createdAt, lastUsedMs: st.mtimeMs, meta: manifest.meta });
    }
    return out;
  }

  /**
   * Removes abandoned temp folders: their process is dead (same host) or they are older than
   * `staleTmpMs`. Folders of live processes are in use and kept. Returns the removed paths.
   */
  async cleanTmp(): Promise<{ removed: string[]; freedBytes: number }> {
    const tmpRoot = join(this.dir, 'tmp');
    const names = await readdir(tmpRoot).catch(() => [] as string[]);
    const removed: string[] = [];
    let freedBytes = 0;
    const limit = this.opts.staleTmpMs ?? 24 * 3600_000;
    for (const name of names) {
      const p = join(tmpRoot, name);
      const [, host, pidText] = name.split('~');
      const pid = Number(pidText);
      const st = await stat(p).catch(() => null);
      if (!st) continue;
      const deadOwner = host === HOST && Number.isInteger(pid) && pid > 0 && !isProcessAlive(pid);
      if (deadOwner || Date.now() - st.mtimeMs > limit) {
        freedBytes += await folderBytes(p);
        await rm(p, { recursive: true, force: true });
        removed.push(p);
      }
    }
    return { removed, freedBytes };
  }

  /**
   * Deletes every entry whose key is not in `keep` (and, with `olderThanMs`, that was not used in
   * that long), entries without a valid manifest, and abandoned temp folders.
   */
  async gc(opts: { keep: Set<string>; olderThanMs?: number }): Promise<{ removed: string[]; freedBytes: number }> {
    const removed: string[] = [];
    let freedBytes = 0;
    const now = Date.now();
    for (const { key, dir, manifest } of await this.scan()) {
      if (opts.keep.has(key) && manifest) continue;
      if (manifest && opts.olderThanMs !== undefined) {
        const st = await stat(dir).catch(() => null);
        if (st && now - st.mtimeMs < opts.olderThanMs) continue;
      }
      freedBytes += await folderBytes(dir);
      await this.remove(dir);
      removed.push(key);
    }
    const tmp = await this.cleanTmp();
    await this.cleanLocks();
    return { removed, freedBytes: freedBytes + tmp.freedBytes };
  }

  /**
   * Deletes lock files left by dead processes (a live holder's lock is never touched). A holder
   * killed after committing its entry leaves a lock no later run would ever take over, because
   * they find the entry cached; `kdq run` calls this after its walk.
   */
  async cleanLocks(): Promise<void> {
    const dir = join(this.dir, 'locks');
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      const p = join(dir, name);
      const [text, st] = await Promise.all([readFile(p, 'utf8').catch(() => null), stat(p).catch(() => null)]);
      if (text === null || !st) continue;
      let info: LockInfo | null;
      try {
        info = JSON.parse(text) as LockInfo;
      } catch {
        info = null;
      }
      if (staleReason(info, st.mtimeMs, 24 * 3600_000) !== null) await rm(p, { force: true });
    }
  }

  private async heal(key: string, dir: string, problems: string[]): Promise<void> {
    this.opts.onWarn?.(`cache entry ${key} at ${dir} is corrupt (${problems.join('; ')}); deleting it, the stage will be recomputed`);
    await this.remove(dir);
  }

  /** Renames an entry out of sight, then deletes it, so no reader ever sees a half-deleted entry. */
  private async remove(dir: string): Promise<void> {
    const trash = join(this.dir, 'tmp', `trash~${HOST}~${process.pid}~${randomBytes(4).toString('hex')}`);
    try {
      await mkdir(join(this.dir, 'tmp'), { recursive: true });
      await rename(dir, trash);
    } catch (e) {
      if (code(e) === 'ENOENT') return; // someone else removed it first
      throw cacheError(`cannot delete cache entry ${dir}`, e);
    }
    await rm(trash, { recursive: true, force: true });
  }

  private async scan(): Promise<{ key: string; dir: string; manifest: Manifest | null }[]> {
    const out: { key: string; dir: string; manifest: Manifest | null }[] = [];
    const shards = await readdir(this.dir).catch(() => [] as string[]);
    for (const shard of shards.filter((s) => /^[0-9a-f]{2}$/.test(s)).sort()) {
      const keys = await readdir(join(this.dir, shard)).catch(() => [] as string[]);
      for (const key of keys.filter((k) => KEY_RE.test(k) && k.startsWith(shard)).sort()) {
        const dir = join(this.dir, shard, key);
        const text = await readFile(join(dir, MANIFEST_FILE), 'utf8').catch(() => null);
        const m = text === null ? null : parseManifest(text, key);
        out.push({ key, dir, manifest: m === null || typeof m === 'string' ? null : m });
      }
    }
    return out;
  }
}

function checkKey(key: string): void {
  if (!KEY_RE.test(key)) throw new KdqError('E_INTERNAL', `"${key}" is not a cache key; keys are lowercase hex sha256 digests`);
}

function code(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | null)?.code;
}

function cacheError(what: string, e: unknown): KdqError {
  const why = isStorageError(e) ? describeFsError(e) : `${(e as Error).message}; check that the cache folder is writable, or point --cache-dir / KDQ_CACHE_DIR elsewhere`;
  return new KdqError('E_CACHE', `${what}: ${why}`, { cause: e });
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

async function folderBytes(dir: string): Promise<number> {
  let total = 0;
  const ents = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const ent of ents) {
    const p = join(dir, ent.name);
    if (ent.isDirectory()) total += await folderBytes(p);
    else total += (await stat(p).catch(() => null))?.size ?? 0;
  }
  return total;
}
