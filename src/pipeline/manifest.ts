/**
 * A cache entry's manifest: every file with its size and sha256, written last so that an entry
 * with a valid manifest is a complete entry. The cheap check (sizes always, a file's sha256 only
 * when its mtime differs from the one recorded at commit; renaming the entry folder keeps file
 * mtimes) misses a same-size edit that keeps the mtime, so it only serves looks that use nothing
 * (dry runs, `kdq graph --explain`); `deep` re-hashes every file, for every entry a run uses and
 * for `kdq cache verify`.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { KdqError } from '../errors.ts';

export const MANIFEST_FILE = 'manifest.json';

export interface ManifestFile {
  size: number;
  sha256: string;
  /** mtime when committed; an unchanged mtime and size skip re-hashing. */
  mtimeMs: number;
}

export interface Manifest {
  /** Format version of this file. */
  format: 1;
  key: string;
  /** ISO time of the commit. */
  createdAt: string;
  /** Relative path ('/'-separated) -> size and hash. */
  files: Record<string, ManifestFile>;
  /** Caller's description of the entry (stage id, kind, key details, seconds). */
  meta: object;
}

export async function hashFile(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Relative paths of the regular files under `dir`, sorted; anything else (a symlink, a socket) throws. */
export async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const ent of await readdir(d, { withFileTypes: true })) {
      const p = join(d, ent.name);
      if (ent.isDirectory()) await walk(p);
      else if (ent.isFile()) out.push(relative(dir, p).split(sep).join('/'));
      else {
        throw new KdqError('E_INTERNAL', `stage output ${p} is not a regular file; write plain files and folders only (no symlinks)`);
      }
    }
  };
  await walk(dir);
  return out.sort();
}

export async function buildManifest(dir: string, key: string, meta: object): Promise<Manifest> {
  const files: Record<string, ManifestFile> = {};
  for (const rel of await listFiles(dir)) {
    if (rel === MANIFEST_FILE) {
      throw new KdqError('E_INTERNAL', `stage output ${join(dir, rel)}: "${MANIFEST_FILE}" is reserved for the cache; rename that output`);
    }
    const p = join(dir, rel);
    const st = await lstat(p);
    files[rel] = { size: st.size, sha256: await hashFile(p), mtimeMs: st.mtimeMs };
  }
  return { format: 1, key, createdAt: new Date().toISOString(), files, meta };
}

/** Problems found in an entry folder against its manifest; empty when it is intact. */
export async function verifyManifest(dir: string, m: Manifest, deep = false): Promise<string[]> {
  const problems: string[] = [];
  for (const [rel, f] of Object.entries(m.files)) {
    const p = join(dir, rel);
    let st;
    try {
      st = await stat(p);
    } catch {
      problems.push(`${rel} is missing`);
      continue;
    }
    if (st.size !== f.size) {
      problems.push(`${rel} has ${st.size} bytes, manifest says ${f.size}`);
      continue;
    }
    if (deep || st.mtimeMs !== f.mtimeMs) {
      const h = await hashFile(p);
      if (h !== f.sha256) problems.push(`${rel} has sha256 ${h.slice(0, 12)}…, manifest says ${f.sha256.slice(0, 12)}…`);
    }
  }
  return problems;
}

/** Parses a manifest, or returns the reason it is unusable. */
export function parseManifest(text: string, key: string): Manifest | string {
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch {
    return `${MANIFEST_FILE} is not valid JSON`;
  }
  const o = m as Partial<Manifest> | null;
  if (!o || o.format !== 1 || typeof o.files !== 'object' || o.files === null) return `${MANIFEST_FILE} has an unknown format`;
  if (o.key !== key) return `${MANIFEST_FILE} belongs to key ${String(o.key)}`;
  return o as Manifest;
}
