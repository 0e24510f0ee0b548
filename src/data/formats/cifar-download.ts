/**
 * CIFAR through the download cache: either the official archive (`cifar-10-binary.tar.gz`, one URL
 * and its sha256) unpacked once into a folder beside it, or each file of the binary version by its
 * own URL and sha256. Either way every byte is verified by fetchVerified before it is read.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { KdqError } from '../../errors.ts';
import type { Cifar100LabelSet } from '../../names.ts';
import { fetchVerified, findVerified } from '../download.ts';
import { extractTar } from '../tar.ts';
import { badFile } from './bad-file.ts';
import { CIFAR_LAYOUT, cifarFileNames, cifarFilesInDir, type CifarFiles, type CifarKind } from './cifar.ts';

/** A file to fetch: where, and the sha256 it must have. */
export interface UrlSpec {
  url: string;
  sha256: string;
}

/** What to download: the archive, or the files of the binary version by name. */
export type CifarDownload = { archive: UrlSpec } | { files: Record<string, UrlSpec> };

/** Marker written last into an unpacked folder: its presence means every member is complete. */
const COMPLETE = '.kdq-unpacked';

/** Fetches (or finds in `cacheDir`) the files of `kind` and returns where they are. */
export async function fetchCifar(kind: CifarKind, spec: CifarDownload, cacheDir: string): Promise<CifarFiles> {
  if ('archive' in spec) {
    const archive = await fetchVerified(spec.archive.url, spec.archive.sha256, { cacheDir, role: 'data.download.archive' });
    const dir = await unpackOnce(archive.path, kind, join(cacheDir, `${spec.archive.sha256.toLowerCase()}-unpacked`));
    return cifarFilesInDir(dir, kind);
  }
  const known = new Set(cifarFileNames(kind));
  for (const name of Object.keys(spec.files)) {
    if (!known.has(name)) {
      throw new KdqError('E_CONFIG', `data.download.files.${name} is not a file of the ${kind} binary version; name them ${[...known].join(', ')}`);
    }
  }
  const l = CIFAR_LAYOUT[kind];
  const get = async (name: string): Promise<string> => {
    const f = spec.files[name];
    if (!f) throw new KdqError('E_CONFIG', `data.download.files lacks ${name}; give { url, sha256 } for each of ${[...l.train, l.test].join(', ')}`);
    return (await fetchVerified(f.url, f.sha256, { cacheDir, role: `data.download.files.${name}` })).path;
  };
  const train: string[] = [];
  for (const name of l.train) train.push(await get(name));
  const test = await get(l.test);
  const names = async (set: Cifar100LabelSet) => (kind === 'cifar10' && set === 'coarse' ? null : spec.files[l.names[set]] ? await get(l.names[set]) : null);
  return { train, test, labelNames: { fine: await names('fine'), coarse: await names('coarse') } };
}

/** The files of `kind` when a verified copy is already in `cacheDir`, else null: never the network. */
export async function findCifar(kind: CifarKind, spec: CifarDownload, cacheDir: string): Promise<CifarFiles | null> {
  if ('archive' in spec) {
    const dir = join(cacheDir, `${spec.archive.sha256.toLowerCase()}-unpacked`);
    if (!(await stat(join(dir, COMPLETE)).catch(() => null))) return null;
    return cifarFilesInDir(dir, kind);
  }
  const find = (name: string) => (spec.files[name] ? findVerified(spec.files[name].url, spec.files[name].sha256, cacheDir) : Promise.resolve(null));
  const l = CIFAR_LAYOUT[kind];
  const train: string[] = [];
  for (const name of l.train) {
    const p = await find(name);
    if (p === null) return null;
    train.push(p);
  }
  const test = await find(l.test);
  if (test === null) return null;
  const names = async (set: Cifar100LabelSet) => (kind === 'cifar10' && set === 'coarse' ? null : await find(l.names[set]));
  return { train, test, labelNames: { fine: await names('fine'), coarse: await names('coarse') } };
}

/**
 * Unpacks the members of the binary version from a verified `.tar.gz` into `dir`, unless a complete
 * unpacking is already there. Unpacks into a temp folder and renames it into place, so a crash
 * leaves no half folder that looks done; two processes racing both succeed, one keeps its copy.
 */
async function unpackOnce(archive: string, kind: CifarKind, dir: string): Promise<string> {
  if (await stat(join(dir, COMPLETE)).catch(() => null)) return dir;
  const tmp = `${dir}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
  const wanted = new Set(cifarFileNames(kind));
  const seen = new Set<string>();
  try {
    await mkdir(tmp, { recursive: true });
    const gunzip = createGunzip();
    const source = createReadStream(archive);
    source.on('error', (err) => gunzip.destroy(err));
    let written: string[];
    try {
      written = await extractTar(source.pipe(gunzip), archive, (name) => {
        const base = basename(name);
        if (!wanted.has(base)) return null;
        if (seen.has(base)) throw badFile(archive, { entry: name }, `a second member named ${base}`, 'use the official archive of the binary version');
        seen.add(base);
        return join(tmp, base);
      });
    } catch (err) {
      if (err instanceof KdqError) throw err;
      throw badFile(
        archive,
        null,
        `the archive does not inflate (${(err as Error).message})`,
        'the download is corrupt: delete it from the cache and run again',
        err,
      );
    } finally {
      source.destroy();
      gunzip.destroy();
    }
    const l = CIFAR_LAYOUT[kind];
    const missing = [...l.train, l.test].filter((n) => !written.some((w) => basename(w) === n));
    if (missing.length > 0) {
      throw badFile(
        archive,
        null,
        `the archive lacks ${missing.join(', ')}`,
        `use the binary version of ${kind} (${l.archive}), not the Python or MATLAB version`,
      );
    }
    await writeFile(join(tmp, COMPLETE), '');
    // A folder without the marker is a leftover of an older crash: never trusted, replaced.
    if (!(await stat(join(dir, COMPLETE)).catch(() => null))) await rm(dir, { recursive: true, force: true });
    try {
      await rename(tmp, dir);
    } catch (err) {
      // Another process finished first (the folder exists and is complete): use its copy.
      if (!(await stat(join(dir, COMPLETE)).catch(() => null))) throw err;
    }
    return dir;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
