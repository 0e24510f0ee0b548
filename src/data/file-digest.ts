/**
 * sha256 of data files, remembered by (path, size, mtimeMs) in a small JSON index so that hashing
 * the 47 MB MNIST training images again costs a stat, not a read. The index is a memo, never the
 * truth: an entry whose size or mtime differs from the file's is ignored and replaced, and an
 * unreadable or corrupt index is treated as empty. The same entries are also kept in memory for
 * the life of the process, so repeated loads without a cache folder (tests) hash a file once.
 * The trade-off, as with make and git: a file rewritten with the same size within the same
 * mtime tick keeps its old digest.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { KdqError } from '../errors.ts';
import { makeDirs, writeFileAtomic } from '../util/atomic.ts';

/** File name of the memo inside the cache folder. */
export const DIGEST_INDEX_FILE = 'file-digests.json';
const INDEX_VERSION = 1;

interface IndexEntry {
  size: number;
  mtimeMs: number;
  sha256: string;
}
interface DigestIndex {
  version: number;
  entries: Record<string, IndexEntry>;
}

/** Digests computed in this process, by absolute path; checked against (size, mtimeMs) like the index. */
const processMemo = new Map<string, IndexEntry>();

function memoHit(abs: string, s: { size: number; mtimeMs: number }, index: DigestIndex | null): string | null {
  for (const e of [index?.entries[abs], processMemo.get(abs)]) {
    if (e && e.size === s.size && e.mtimeMs === s.mtimeMs) return e.sha256;
  }
  return null;
}

/** How a digest was obtained; tests use `fromIndex` to prove a memo hit read nothing. */
export interface FileDigest {
  sha256: string;
  size: number;
  /** True when the digest came from the index (or this process's memory) and the file was not read. */
  fromIndex: boolean;
}

import { sha256Hex } from '../util/hash.ts';

export { sha256Hex };

async function readIndex(cacheDir: string): Promise<DigestIndex> {
  try {
    const parsed = JSON.parse(await readFile(join(cacheDir, DIGEST_INDEX_FILE), 'utf8')) as DigestIndex;
    if (parsed && parsed.version === INDEX_VERSION && typeof parsed.entries === 'object' && parsed.entries) return parsed;
  } catch {
    // Missing or corrupt: a memo that cannot be trusted is simply rebuilt.
  }
  return { version: INDEX_VERSION, entries: {} };
}

async function saveEntries(cacheDir: string, updates: Record<string, IndexEntry>): Promise<void> {
  try {
    await makeDirs(cacheDir);
    // Re-read just before writing so that entries another process added meanwhile survive.
    const index = await readIndex(cacheDir);
    Object.assign(index.entries, updates);
    await writeFileAtomic(join(cacheDir, DIGEST_INDEX_FILE), JSON.stringify(index));
  } catch {
    // The memo only saves time; failing to store it must not fail the run.
  }
}

async function statOrThrow(path: string, role: string): Promise<{ size: number; mtimeMs: number }> {
  try {
    const s = await stat(path);
    if (!s.isFile()) throw new KdqError('E_DATA', `${role} '${path}' is not a regular file; point it at an IDX file`);
    return { size: s.size, mtimeMs: s.mtimeMs };
  } catch (err) {
    if (err instanceof KdqError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? (err as Error).message})`;
    throw new KdqError('E_DATA', `${role} '${path}' ${why}; check the path (relative paths are relative to the experiment file)`, {
      cause: err,
    });
  }
}

async function hashStream(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** The index entry for `path` if its size and mtime still match, else null. */
export async function lookupDigest(path: string, cacheDir: string | undefined): Promise<string | null> {
  const abs = resolve(path);
  const s = await stat(abs).catch(() => null);
  if (!s) return null;
  return memoHit(abs, s, cacheDir === undefined ? null : await readIndex(cacheDir));
}

/** Records digests of files whose bytes the caller already hashed (e.g. while loading them). */
export async function rememberDigests(digests: { path: string; sha256: string }[], cacheDir: string | undefined): Promise<void> {
  if (digests.length === 0) return;
  const updates: Record<string, IndexEntry> = {};
  for (const d of digests) {
    const s = await stat(d.path).catch(() => null);
    if (!s) continue;
    const entry = { size: s.size, mtimeMs: s.mtimeMs, sha256: d.sha256 };
    updates[resolve(d.path)] = entry;
    processMemo.set(resolve(d.path), entry);
  }
  if (cacheDir !== undefined) await saveEntries(cacheDir, updates);
}

/**
 * sha256 of each file, from the index in `cacheDir` (or this process's memory) when (size,
 * mtimeMs) match, otherwise by streaming the file (and then remembered).
 * `role` names each file in errors, e.g. `data.files.trainImages`.
 */
export async function digestFiles(files: { path: string; role: string }[], cacheDir?: string): Promise<FileDigest[]> {
  const index = cacheDir === undefined ? null : await readIndex(cacheDir);
  const updates: Record<string, IndexEntry> = {};
  const out = await Promise.all(
    files.map(async ({ path, role }): Promise<FileDigest> => {
      const abs = resolve(path);
      const s = await statOrThrow(abs, role);
      const known = memoHit(abs, s, index);
      if (known) {
        // Also fills the index from memory, so the next process finds it.
        if (index && index.entries[abs]?.sha256 !== known) updates[abs] = { size: s.size, mtimeMs: s.mtimeMs, sha256: known };
        return { sha256: known, size: s.size, fromIndex: true };
      }
      const sha256 = await hashStream(abs);
      updates[abs] = { size: s.size, mtimeMs: s.mtimeMs, sha256 };
      processMemo.set(abs, updates[abs]);
      return { sha256, size: s.size, fromIndex: false };
    }),
  );
  if (cacheDir !== undefined && Object.keys(updates).length > 0) await saveEntries(cacheDir, updates);
  return out;
}

/** The sha256 of a single file (see digestFiles). */
export async function digestFile(path: string, cacheDir?: string, role = 'file'): Promise<FileDigest> {
  return (await digestFiles([{ path, role }], cacheDir))[0];
}
