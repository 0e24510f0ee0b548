/**
 * Content-addressed store of stage outputs, one folder per key: `<dir>/<key[0..2]>/<key>/`.
 * An entry is filled in `<dir>/tmp/<name>/`, gets its manifest last, and is renamed into place,
 * so a reader sees a whole entry or none. An entry that fails its manifest is warned about,
 * deleted and treated as a miss: never trusted, never fatal (DVC).
 *
 * kdq writes here only after `claim()` has proved the folder is kdq's (cache-root.ts), and deletes
 * only what carries kdq's marks: entries with a valid manifest of their own key, and temp folders
 * and locks named the way kdq names them. Anything else is listed as foreign and left alone.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { createHash } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { KdqError } from '../errors.ts';
import { describeFsError, isStorageError } from '../util/atomic.ts';
import { folderBytes } from '../util/folder-bytes.ts';
import { isProcessAlive } from '../util/process-identity.ts';
import { claimCacheRoot, isRootName, KEY_RE, LOCK_NAME_RE, SHARD_RE, TMP_NAME_RE } from './cache-root.ts';
import { staleReason, type LockInfo } from './lock.ts';
import { buildManifest, MANIFEST_FILE, parseManifest, verifyManifest } from './manifest.ts';

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
  /** Re-hash every file on every `get` instead of only files whose mtime changed. */
  deepVerify?: boolean;
  /** A tmp folder older than this is abandoned even if its owner seems alive (default 24 h). */
  staleTmpMs?: number;
}

const HOST = hostname();

export interface GetOptions {
  /** Re-hash every file (what a run does before it uses an entry), not only files whose mtime moved. */
  deep?: boolean;
  /** Record the lookup as a use, for `gc --older-than` (default true; `kdq cache verify` does not). */
  touch?: boolean;
}

/** What `gc` keeps; everything else with kdq's marks goes. */
export interface GcPolicy {
  /** Keys that run folders refer to: kept unless `olderThanMs` drops them. */
  referenced: Set<string>;
  /** Entries used at or after this time are kept whatever else says: a live run may still read them. */
  inUseSinceMs?: number;
  /** Entries used at or after this time are kept unless `olderThanMs` drops them: a failed run's work. */
  failedRunSinceMs?: number;
  /** Also drop entries not used for this long, even referenced ones. */
  olderThanMs?: number;
  now?: number;
}

export interface GcResult {
  /** Keys of the removed entries. */
  removed: string[];
  /** Bytes of the removed entries and temp folders. */
  freedBytes: number;
  /** Entries kept because a run folder refers to them. */
  keptReferenced: number;
  /** Unreferenced entries kept because a live or failed run may use them. */
  keptForRuns: number;
  /** Temp folders of dead processes removed. */
  tmpRemoved: number;
  /** Paths kdq did not make (no valid manifest, not named by kdq), left alone. */
  foreign: string[];
}

export interface VerifyResult {
  /** Entries whose every file matched its manifest's sha256. */
  intact: number;
  /** Damaged entries, removed. */
  removed: { key: string; problems: string[] }[];
  /** Bytes re-hashed. */
  bytes: number;
  /** Paths kdq did not make, left alone (as in gc). */
  foreign: string[];
}

export class Cache {
  readonly dir: string;
  private readonly opts: CacheOptions;

  private claimed?: Promise<void>;

  constructor(dir: string, opts: CacheOptions = {}) {
    this.dir = dir;
    this.opts = opts;
  }

  /**
   * Proves the cache folder is kdq's (creating it with its marker if it does not exist) before the
   * first write; throws for a folder that is not (see cache-root.ts). Done once per instance.
   */
  claim(): Promise<void> {
    this.claimed ??= claimCacheRoot(this.dir);
    this.claimed.catch(() => (this.claimed = undefined));
    return this.claimed;
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
  async get(key: string, opts: GetOptions = {}): Promise<string | null> {
    return (await this.check(key, opts)).dir;
  }

  /** `get`, also saying what was wrong with an entry it deleted. */
  private async check(key: string, opts: GetOptions): Promise<{ dir: string | null; problems: string[] }> {
    const dir = this.entryDir(key);
    const deep = opts.deep ?? this.opts.deepVerify;
    // Another process may commit (rename into place) or replace this entry while we look, so a
    // problem only counts when a second look at the manifest sees the same thing: healing on a
    // torn read would delete a fresh, valid entry.
    for (let look = 0; look < 3; look++) {
      const text = await this.readManifest(dir);
      if (text === null && !(await exists(dir))) return { dir: null, problems: [] }; // the ordinary miss
      let problems: string[];
      if (text === null) problems = [`${MANIFEST_FILE} is missing`];
      else {
        const m = parseManifest(text, key);
        problems = typeof m === 'string' ? [m] : await verifyManifest(dir, m, deep);
      }
      if (problems.length === 0) {
        if (opts.touch !== false) {
          const now = new Date();
          await utimes(dir, now, now).catch(() => undefined); // last-used time for gc; best effort
        }
        return { dir, problems };
      }
      if ((await this.readManifest(dir)) === text) {
        if (text === null && !(await exists(dir))) return { dir: null, problems: [] }; // removed meanwhile: a plain miss
        // The folder sits where this key's entry goes and nothing but kdq names folders by a
        // stage key, so even without a manifest it is a damaged entry of kdq's.
        await this.heal(key, dir, problems);
        return { dir: null, problems };
      }
    }
    return { dir: null, problems: [] }; // changing under us the whole time: a miss, and the caller's lock sorts it out
  }

  /**
   * The bytes of `rel` in the stage output folder `dir`, for copying out of the cache (into a run
   * folder): when `dir` is an entry of this cache they are checked against its manifest's sha256
   * as read, and an entry that does not match is healed and the copy refused. Other folders (the
   * scratch folder of a stage that is not cached) are read as they are.
   */
  async readOutput(dir: string, rel: string): Promise<Uint8Array> {
    const key = this.keyOfEntry(dir);
    const path = join(dir, rel);
    let bytes: Uint8Array | null = null;
    let readError: unknown;
    try {
      bytes = new Uint8Array(await readFile(path));
    } catch (e) {
      if (key === null) throw cacheError(`cannot read ${path}`, e);
      readError = e;
    }
    if (key === null) return bytes!;
    const text = await this.readManifest(dir);
    const m = text === null ? `${MANIFEST_FILE} is missing` : parseManifest(text, key);
    const relKey = rel.split(sep).join('/');
    let problem: string | null = null;
    if (typeof m === 'string') problem = m;
    else if (!m.files[relKey]) problem = `${relKey} is not in its ${MANIFEST_FILE}`;
    else if (bytes === null) problem = `${relKey} cannot be read (${code(readError) ?? String(readError)})`;
    else {
      const sha = createHash('sha256').update(bytes).digest('hex');
      if (sha !== m.files[relKey].sha256) problem = `${relKey} has sha256 ${sha.slice(0, 12)}…, manifest says ${m.files[relKey].sha256.slice(0, 12)}…`;
    }
    if (problem === null) return bytes!;
    await this.heal(key, dir, [problem]);
    throw new KdqError(
      'E_CACHE',
      `cache entry ${dir} changed after this run checked it (${problem}), so ${path} was not copied; the entry is deleted: rerun to recompute it`,
    );
  }

  /**
   * Deletes the entry holding `file` because a stage found it damaged (a JSON file that does not
   * parse although its manifest matched); returns false when `file` is in no entry of this cache.
   */
  async discardDamaged(file: string, problem: string): Promise<boolean> {
    for (let dir = dirname(file); dir !== dirname(dir); dir = dirname(dir)) {
      const key = this.keyOfEntry(dir);
      if (key === null) continue;
      await this.heal(key, dir, [`${relative(dir, file).split(sep).join('/')}: ${problem}`]);
      return true;
    }
    return false;
  }

  /** The key whose entry folder `dir` is, or null. */
  private keyOfEntry(dir: string): string | null {
    const key = dir.split(sep).at(-1) ?? '';
    return KEY_RE.test(key) && resolve(this.entryDir(key)) === resolve(dir) ? key : null;
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
    await this.claim();
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
    await this.claim();
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

  /** Every entry with a valid manifest, sorted by key; files are not re-hashed. */
  async list(): Promise<CacheEntryInfo[]> {
    return (await this.scan()).entries;
  }

  /** Folders and files in the cache that kdq did not make (see `scan`), left alone by everything. */
  async foreign(): Promise<string[]> {
    return (await this.scan()).foreign;
  }

  /**
   * Removes abandoned temp folders: their process is dead (same host) or they are older than
   * `staleTmpMs`. Folders of live processes are in use and kept, and so is anything in `tmp/`
   * that kdq did not name. Returns the removed paths.
   */
  async cleanTmp(): Promise<{ removed: string[]; freedBytes: number }> {
    const tmpRoot = join(this.dir, 'tmp');
    const names = (await readdir(tmpRoot).catch(() => [] as string[])).filter((n) => TMP_NAME_RE.test(n));
    const removed: string[] = [];
    let freedBytes = 0;
    const limit = this.opts.staleTmpMs ?? 24 * 3600_000;
    if (names.length > 0) await this.claim();
    for (const name of names) {
      const p = join(tmpRoot, name);
      const [, host, pidText] = name.split('~');
      const pid = Number(pidText);
      const st = await lstat(p).catch(() => null);
      if (!st?.isDirectory()) continue;
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
   * Deletes the entries `policy` does not keep, then abandoned temp folders and dead processes'
   * locks. Only entries with a valid manifest of their own key are ever deleted.
   */
  async gc(policy: GcPolicy): Promise<GcResult> {
    await this.claim();
    const now = policy.now ?? Date.now();
    const { entries, foreign } = await this.scan();
    const result: GcResult = { removed: [], freedBytes: 0, keptReferenced: 0, keptForRuns: 0, tmpRemoved: 0, foreign };
    for (const e of entries) {
      const used = e.lastUsedMs;
      const old = policy.olderThanMs !== undefined && now - used >= policy.olderThanMs;
      if (!old && policy.referenced.has(e.key)) {
        result.keptReferenced++;
        continue;
      }
      const inUse = policy.inUseSinceMs !== undefined && used >= policy.inUseSinceMs;
      const failedRuns = !old && policy.failedRunSinceMs !== undefined && used >= policy.failedRunSinceMs;
      if (inUse || failedRuns) {
        result.keptForRuns++;
        continue;
      }
      result.freedBytes += await folderBytes(e.dir);
      await this.remove(e.dir);
      result.removed.push(e.key);
    }
    const tmp = await this.cleanTmp();
    result.tmpRemoved = tmp.removed.length;
    result.freedBytes += tmp.freedBytes;
    await this.cleanLocks();
    return result;
  }

  /**
   * Re-hashes every file of every entry against its manifest and removes the entries that fail
   * (as a run would on reading them). Does not count as a use of the entries.
   */
  async verify(): Promise<VerifyResult> {
    await this.claim();
    const { entries, foreign } = await this.scan();
    const result: VerifyResult = { intact: 0, removed: [], bytes: 0, foreign };
    for (const e of entries) {
      const r = await this.check(e.key, { deep: true, touch: false });
      if (r.dir !== null) {
        result.intact++;
        result.bytes += e.bytes;
      } else if (r.problems.length > 0) result.removed.push({ key: e.key, problems: r.problems });
    }
    return result;
  }

  /**
   * Deletes lock files left by dead processes (a live holder's lock is never touched). A holder
   * killed after committing its entry leaves a lock no later run would ever take over, because
   * they find the entry cached; `kdq run` calls this after its walk.
   */
  async cleanLocks(): Promise<void> {
    const dir = join(this.dir, 'locks');
    const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => LOCK_NAME_RE.test(n));
    if (names.length > 0) await this.claim();
    for (const name of names) {
      const p = join(dir, name);
      const [text, st] = await Promise.all([readFile(p, 'utf8').catch(() => null), lstat(p).catch(() => null)]);
      if (text === null || !st?.isFile()) continue;
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
    await this.claim();
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

  /**
   * The entries (real folders `<shard>/<key>` in real shard folders, holding a manifest that
   * parses and names that key) and everything else: names at the top that kdq does not write,
   * and whatever in a shard is not an entry (a folder without a manifest, a symlink, a file).
   */
  private async scan(): Promise<{ entries: CacheEntryInfo[]; foreign: string[] }> {
    const entries: CacheEntryInfo[] = [];
    const foreign: string[] = [];
    const names = (await readdir(this.dir).catch(() => [] as string[])).sort();
    for (const name of names) {
      const p = join(this.dir, name);
      if (!isRootName(name)) foreign.push(p);
      else if (SHARD_RE.test(name) && !(await lstat(p).catch(() => null))?.isDirectory()) foreign.push(p);
    }
    for (const shard of names.filter((s) => SHARD_RE.test(s))) {
      if (!(await lstat(join(this.dir, shard)).catch(() => null))?.isDirectory()) continue;
      for (const key of (await readdir(join(this.dir, shard)).catch(() => [] as string[])).sort()) {
        const dir = join(this.dir, shard, key);
        const info = KEY_RE.test(key) && key.startsWith(shard) ? await this.entryInfo(key, dir) : null;
        if (info) entries.push(info);
        else foreign.push(dir);
      }
    }
    return { entries, foreign };
  }

  private async entryInfo(key: string, dir: string): Promise<CacheEntryInfo | null> {
    const st = await lstat(dir).catch(() => null);
    if (!st?.isDirectory()) return null;
    const text = await readFile(join(dir, MANIFEST_FILE), 'utf8').catch(() => null);
    const m = text === null ? null : parseManifest(text, key);
    if (m === null || typeof m === 'string') return null;
    const bytes = Object.values(m.files).reduce((n, f) => n + f.size, 0) + Buffer.byteLength(text ?? '');
    return { key, dir, bytes, createdAt: m.createdAt, lastUsedMs: st.mtimeMs, meta: m.meta };
  }
}

function checkKey(key: string): void {
  if (!KEY_RE.test(key)) throw new KdqError('E_INTERNAL', `"${key}" is not a cache key; keys are lowercase hex sha256 digests`);
}

function code(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | null)?.code;
}

function cacheError(what: string, e: unknown): KdqError {
  const why = isStorageError(e)
    ? describeFsError(e)
    : `${(e as Error).message}; check that the cache folder is writable, or point --cache-dir / KDQ_CACHE_DIR elsewhere`;
  return new KdqError('E_CACHE', `${what}: ${why}`, { cause: e });
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}
