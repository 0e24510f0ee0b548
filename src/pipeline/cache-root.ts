/**
 * Whose folder the cache root is. kdq writes and deletes in a cache folder only once its marker
 * proves the folder is kdq's: a `CACHEDIR.TAG` (the cache-directory tag that backup tools skip,
 * https://bford.info/cachedir/) whose text names kdq, written when kdq creates the folder. A root
 * without it (a `--cache-dir` mistyped onto a real folder, a `.cache` symlink pointing into one)
 * is refused rather than filled with temp folders and locks, or garbage-collected.
 *
 * Caches made by a kdq from before the marker are recognised by their layout and get the marker
 * then: every name at the top is one kdq writes (`tmp`, `locks`, `unfinished`, two-hex shard
 * folders, its own temp files), folders inside `tmp` and `locks` are named the way kdq names
 * them, and, when there are shards, at least one holds an entry with a valid manifest. An empty
 * folder is adopted too: there is nothing in it to harm.
 */
import { lstat, readdir, readFile, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { KdqError } from '../errors.ts';
import { describeFsError, ensureWritableDir, writeFileAtomic } from '../util/atomic.ts';
import { MANIFEST_FILE, parseManifest } from './manifest.ts';

export const CACHE_TAG = 'CACHEDIR.TAG';
const SIGNATURE = 'Signature: 8a477f597d28d172789f06886806bc55';
/** The line that makes a CACHEDIR.TAG kdq's (other programs write the tag too). */
const KDQ_LINE = '# kdq stage cache (format 1)';

export const TAG_TEXT = `${SIGNATURE}
${KDQ_LINE}: kdq writes and deletes in this folder only because this file says it is kdq's.
# kdq cache gc removes only entries with a valid manifest, and kdq's own temp folders and locks.
# For information about cache directory tags, see https://bford.info/cachedir/
`;

/** Folders kdq makes at the top of a cache, besides the two-hex shards. */
export const ROOT_FOLDERS = ['tmp', 'locks', 'unfinished'] as const;

export const SHARD_RE = /^[0-9a-f]{2}$/;
export const KEY_RE = /^[0-9a-f]{16,128}$/;
/** `<key[0..12]>~host~pid~hex` (a stage being written) or `trash~host~pid~hex` (an entry being deleted). */
export const TMP_NAME_RE = /^(?:[0-9a-f]{12}|trash)~[^~/]+~\d+~[0-9a-f]{8}$/;
/** `<key>.lock`, and `<key>.lock.stale-<hex>` left by a process killed while breaking a stale lock. */
export const LOCK_NAME_RE = /^[0-9a-f]{16,128}\.lock(?:\.stale-[0-9a-f]{8})?$/;
/** `<start ms>~pid~hex.json` (see unfinished-runs.ts), and its temp file while it is written. */
export const UNFINISHED_NAME_RE = /^\.?\d+~\d+~[0-9a-f]{8}\.json(?:\.\d+\.[0-9a-f]{8}\.tmp)?$/;

/** Whether `name` at the top of a cache is something kdq writes there. */
export function isRootName(name: string): boolean {
  return (
    name === CACHE_TAG ||
    SHARD_RE.test(name) ||
    (ROOT_FOLDERS as readonly string[]).includes(name) ||
    // the tag's temp file (writeFileAtomic), ensureWritableDir's probe and the probe's temp file
    /^\.CACHEDIR\.TAG\.\d+\.[0-9a-f]{8}\.tmp$/.test(name) ||
    /^\.kdq-write-check\.\d+\.[0-9a-f]{8}$/.test(name) ||
    /^\.\.kdq-write-check\.\d+\.[0-9a-f]{8}\.\d+\.[0-9a-f]{8}\.tmp$/.test(name)
  );
}

export type RootState =
  | { kind: 'missing' }
  | { kind: 'not-a-folder' }
  /** Has kdq's tag. */
  | { kind: 'kdq' }
  /** No tag, but empty or laid out like a cache of an earlier kdq. */
  | { kind: 'adoptable' }
  | { kind: 'foreign'; why: string };

/** Has a kdq CACHEDIR.TAG. */
export async function hasKdqTag(dir: string): Promise<boolean> {
  const text = await readFile(join(dir, CACHE_TAG), 'utf8').catch(() => null);
  return text !== null && text.startsWith(SIGNATURE) && text.includes(KDQ_LINE);
}

/** What the folder at `dir` is, read only. */
export async function inspectCacheRoot(dir: string): Promise<RootState> {
  let st;
  try {
    st = await stat(dir); // follows a symlinked root: what matters is the folder it leads to
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'missing' };
    if ((e as NodeJS.ErrnoException).code === 'ENOTDIR') return { kind: 'not-a-folder' };
    throw rootError(dir, e);
  }
  if (!st.isDirectory()) return { kind: 'not-a-folder' };
  if (await hasKdqTag(dir)) return { kind: 'kdq' };
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    throw rootError(dir, e);
  }
  if (names.includes(CACHE_TAG)) return { kind: 'foreign', why: `its ${CACHE_TAG} belongs to another program` };
  const unknown = names.filter((n) => !isRootName(n));
  if (unknown.length > 0) return { kind: 'foreign', why: `it holds ${quoteSome(unknown)}, which kdq does not write` };
  for (const folder of ROOT_FOLDERS) {
    if (!names.includes(folder)) continue;
    const re = { tmp: TMP_NAME_RE, locks: LOCK_NAME_RE, unfinished: UNFINISHED_NAME_RE }[folder];
    const bad = await namesNotMatching(join(dir, folder), re);
    if (bad !== null) return { kind: 'foreign', why: bad };
  }
  const shards = names.filter((n) => SHARD_RE.test(n));
  if (shards.length === 0) return { kind: 'adoptable' };
  for (const shard of shards) {
    if (!(await lstat(join(dir, shard))).isDirectory()) return { kind: 'foreign', why: `${shard} is not a folder` };
    for (const key of await readdir(join(dir, shard)).catch(() => [] as string[])) {
      if (!KEY_RE.test(key) || !key.startsWith(shard)) continue;
      const text = await readFile(join(dir, shard, key, MANIFEST_FILE), 'utf8').catch(() => null);
      if (text !== null && typeof parseManifest(text, key) !== 'string') return { kind: 'adoptable' };
    }
  }
  return { kind: 'foreign', why: `none of its folders ${quoteSome(shards.map((s) => `${s}/`))} holds a cache entry with a valid ${MANIFEST_FILE}` };
}

/**
 * Makes sure `dir` is a kdq cache kdq may write to: creates it (with its tag) when missing, tags
 * an empty folder or an earlier kdq's cache, checks that it is writable, and refuses anything else
 * with an error that says why and what to do.
 */
export async function claimCacheRoot(dir: string): Promise<void> {
  const state = await inspectCacheRoot(dir);
  if (state.kind === 'not-a-folder') throw notAFolder(dir);
  if (state.kind === 'foreign') throw await notKdqs(dir, state.why);
  // A read-only or full cache fails now (naming the folder), not after the training whose result
  // it could not store; this also creates a missing cache folder.
  await ensureWritableDir(dir);
  if (state.kind !== 'kdq') await writeFileAtomic(join(dir, CACHE_TAG), TAG_TEXT);
}

/** `--cache-dir X` naming a file. */
export function notAFolder(dir: string): KdqError {
  return new KdqError('E_USAGE', `the cache ${dir} is not a folder; point --cache-dir (or KDQ_CACHE_DIR) at a folder, or at a path that does not exist yet`);
}

async function notKdqs(dir: string, why: string): Promise<KdqError> {
  const real = await realpath(dir).catch(() => dir);
  const where = real === dir ? dir : `${dir} (a symlink to ${real})`;
  return new KdqError(
    'E_CACHE',
    `${where} is not a kdq cache: it has no kdq ${CACHE_TAG} and ${why}. kdq writes and deletes only in its own cache folders; point --cache-dir (or KDQ_CACHE_DIR) at a new or empty folder`,
    { exitCode: 2 },
  );
}

/** Refuses a root that is not kdq's, for commands that only read (`kdq cache ls`). */
export async function checkReadableRoot(dir: string): Promise<'missing' | 'ok'> {
  const state = await inspectCacheRoot(dir);
  if (state.kind === 'not-a-folder') throw notAFolder(dir);
  if (state.kind === 'foreign') throw await notKdqs(dir, state.why);
  return state.kind === 'missing' ? 'missing' : 'ok';
}

/** A reason when some name in `dir` does not match `re` (or `dir` is not a real folder), else null. */
async function namesNotMatching(dir: string, re: RegExp): Promise<string | null> {
  if (!(await lstat(dir)).isDirectory()) return `${dir} is not a folder`;
  const bad = (await readdir(dir)).filter((n) => !re.test(n));
  return bad.length === 0 ? null : `${dir} holds ${quoteSome(bad)}, which kdq does not write`;
}

function quoteSome(names: string[]): string {
  const shown = names
    .slice(0, 3)
    .map((n) => `"${n}"`)
    .join(', ');
  return names.length > 3 ? `${shown} and ${names.length - 3} more` : shown;
}

function rootError(dir: string, e: unknown): KdqError {
  return new KdqError('E_CACHE', `cannot read the cache ${dir}: ${describeFsError(e)}`, { cause: e });
}
