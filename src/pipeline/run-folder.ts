/**
 * The folder of one run, `runs/<name>/<run-id>/`, with run ids that sort by time
 * (`YYYYMMDD-HHMMSS-<4 hex>`, UTC). Files are written atomically, and `finish()` repoints
 * `runs/<name>/latest` at the run with a symlink made under a temp name and renamed over the old.
 * Until `finish()`, the run is written into a hidden `.partial-<id>-<pid>` folder that is renamed
 * into place, so a run killed halfway leaves no run folder that looks complete; the next run of
 * the same name removes the partial folders of processes that are gone.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { lstat, mkdir, readdir, rename, rm, symlink } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, normalize, resolve, sep } from 'node:path';
import { KdqError } from '../errors.ts';
import { describeFsError, ioError, tempSibling, writeFileAtomic } from '../util/atomic.ts';
import { folderBytes } from '../util/folder-bytes.ts';
import { isProcessAlive } from '../util/process-identity.ts';

export interface RunFolder {
  /** `YYYYMMDD-HHMMSS-<4 hex>`. */
  id: string;
  /** Absolute path of the run folder (where it is once `finish()` has moved it into place). */
  dir: string;
  /** Writes `rel` (inside the run folder) atomically; returns its absolute path. */
  writeFile(rel: string, data: string | Uint8Array): Promise<string>;
  /** `writeFile` of pretty-printed JSON with a trailing newline. */
  writeJson(rel: string, value: unknown): Promise<string>;
  /** Absolute path of `rel`, refusing paths that leave the run folder. */
  path(rel: string): string;
  /** Moves the run into place and points `runs/<name>/latest` at it. */
  finish(): Promise<void>;
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Prefix of a run folder being written. */
const PARTIAL = '.partial-';

export interface RemovedFolder {
  path: string;
  bytes: number;
}

/** Deletes the partial run folders under `base` (one experiment's folder) whose writing process is gone. */
async function removeAbandoned(base: string): Promise<RemovedFolder[]> {
  const removed: RemovedFolder[] = [];
  for (const entry of await readdir(base)) {
    const m = entry.startsWith(PARTIAL) ? /-(\d+)$/.exec(entry) : null;
    if (!m || Number(m[1]) === process.pid || isProcessAlive(Number(m[1]))) continue;
    const p = join(base, entry);
    if (!(await lstat(p)).isDirectory()) continue; // kdq writes a run into a real folder
    const bytes = await folderBytes(p);
    await rm(p, { recursive: true, force: true });
    removed.push({ path: p, bytes });
  }
  return removed;
}

/**
 * Deletes the partial run folders of dead processes in every experiment folder under `runsDir`
 * (what `kdq cache gc` does first: a run that failed on a full disk leaves one).
 */
export async function removeAbandonedRuns(runsDir: string): Promise<RemovedFolder[]> {
  const removed: RemovedFolder[] = [];
  for (const name of await readdir(runsDir).catch(() => [] as string[])) {
    if (!NAME_RE.test(name)) continue;
    const base = join(runsDir, name);
    if (!(await lstat(base).catch(() => null))?.isDirectory()) continue;
    removed.push(...(await removeAbandoned(base).catch(() => [] as RemovedFolder[])));
  }
  return removed;
}

/** A run id as makeRunId writes it. */
export const RUN_ID_RE = /^\d{8}-\d{6}-[0-9a-f]{4}$/;

/** A run id's time (when its folder was created, UTC), or null for a name that is not a run id. */
export function runIdTime(id: string): Date | null {
  if (!RUN_ID_RE.test(id)) return null;
  const d = new Date(`${id.slice(0, 4)}-${id.slice(4, 6)}-${id.slice(6, 8)}T${id.slice(9, 11)}:${id.slice(11, 13)}:${id.slice(13, 15)}Z`);
  return Number.isNaN(d.getTime()) ? null : d;
}

/**
 * Points `<base>/latest` at the run `id` (a sibling folder), or removes it when `id` is null. The
 * link is made under a temp name and renamed over the old one, so readers see the old or the new.
 */
export async function pointLatest(base: string, id: string | null): Promise<void> {
  const latest = join(base, 'latest');
  if (id === null) {
    await rm(latest, { force: true });
    return;
  }
  const tmp = tempSibling(latest);
  try {
    // A relative target keeps the link valid when the runs folder is moved or mounted elsewhere.
    await symlink(id, tmp);
    await rename(tmp, latest);
  } catch (e) {
    await rm(tmp, { force: true });
    const why =
      (e as NodeJS.ErrnoException).code === 'EISDIR' || (e as NodeJS.ErrnoException).code === 'ENOTEMPTY'
        ? `${(e as Error).message}; if "latest" is a real folder, move it away`
        : describeFsError(e);
    throw new KdqError('E_IO', `cannot point ${latest} at ${id}: ${why}`, { cause: e });
  }
}

/**
 * Deletes a finished run folder: first renamed to a partial folder of this process, so a removal
 * cut short never leaves something that looks like a complete run (and the next `kdq cache gc`
 * or run of the experiment finishes it).
 */
export async function removeRunFolder(dir: string): Promise<void> {
  const partial = join(dirname(dir), `${PARTIAL}${basename(dir)}-${process.pid}`);
  try {
    await rename(dir, partial);
    await rm(partial, { recursive: true, force: true });
  } catch (e) {
    throw new KdqError('E_IO', `cannot remove the run folder ${dir}: ${describeFsError(e)}`, { cause: e });
  }
}

/** `YYYYMMDD-HHMMSS-<4 hex>` in UTC. */
export function makeRunId(now: Date = new Date(), hex: string = randomBytes(2).toString('hex')): string {
  const p = (n: number) => String(n).padStart(2, '0');
  const date = `${now.getUTCFullYear()}${p(now.getUTCMonth() + 1)}${p(now.getUTCDate())}`;
  const time = `${p(now.getUTCHours())}${p(now.getUTCMinutes())}${p(now.getUTCSeconds())}`;
  return `${date}-${time}-${hex}`;
}

export async function createRunFolder(runsDir: string, name: string, opts: { now?: Date } = {}): Promise<RunFolder> {
  if (!NAME_RE.test(name) || name.includes('..')) {
    throw new KdqError(
      'E_USAGE',
      `experiment name "${name}" cannot name a folder under ${runsDir}; use letters, digits, '.', '_' and '-' only (no '/', no '..'), e.g. "kd-mnist"`,
    );
  }
  const base = join(resolve(runsDir), name);
  let id = '';
  let dir = '';
  let current = '';
  try {
    await mkdir(base, { recursive: true });
    await removeAbandoned(base);
    // mkdir without `recursive` fails on an existing folder, so two runs in the same second get different ids.
    for (let attempt = 0; ; attempt++) {
      id = makeRunId(opts.now);
      dir = join(base, id);
      current = join(base, `${PARTIAL}${id}-${process.pid}`);
      try {
        // The finished name must be free too, or finish() could not rename into it.
        if (existsSync(dir)) throw Object.assign(new Error(`${dir} exists`), { code: 'EEXIST' });
        await mkdir(current);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 20) throw e;
      }
    }
  } catch (e) {
    throw new KdqError('E_IO', `cannot create a run folder under ${base}: ${describeFsError(e)}`, { cause: e });
  }

  const path = (rel: string): string => {
    const p = normalize(join(current, rel));
    if (isAbsolute(rel) || !p.startsWith(current + sep)) {
      throw new KdqError('E_INTERNAL', `"${rel}" is outside the run folder ${dir}; pass a path relative to it without '..'`);
    }
    return p;
  };
  const writeFile = async (rel: string, data: string | Uint8Array): Promise<string> => {
    const p = path(rel);
    try {
      await mkdir(dirname(p), { recursive: true });
      await writeFileAtomic(p, data);
    } catch (e) {
      throw ioError(p, e);
    }
    return p;
  };
  return {
    id,
    dir,
    path,
    writeFile,
    writeJson: (rel, value) => writeFile(rel, `${JSON.stringify(value, null, 2)}\n`),
    async finish() {
      if (current !== dir) {
        try {
          await rename(current, dir);
        } catch (e) {
          throw new KdqError('E_IO', `cannot move the finished run ${current} to ${dir}: ${describeFsError(e)}`, { cause: e });
        }
        current = dir;
      }
      await pointLatest(base, id);
    },
  };
}
