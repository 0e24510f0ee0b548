/**
 * One lock per cache key, so two processes sharing a cache never compute the same key at once.
 * The lock is a file created with O_EXCL holding pid, host, boot id, process start time, time and
 * a random token. It is stale when its holder is gone (same host: the pid is dead, or the machine
 * rebooted, or the pid now belongs to another process, see process-identity.ts) or its mtime,
 * refreshed by a heartbeat while held, is older than `staleMs` (a crashed holder on another host).
 * Waiters back off exponentially.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, stat, utimes } from 'node:fs/promises';
import { dirname } from 'node:path';
import { KdqError } from '../errors.ts';
import { describeFsError, isStorageError } from '../util/atomic.ts';
import { stampState, thisProcess, type ProcessStamp } from '../util/process-identity.ts';

export { isProcessAlive } from '../util/process-identity.ts';

export interface LockInfo extends ProcessStamp {
  /** ISO time the lock was taken. */
  time: string;
  /** Random, so a holder never releases a lock that was stolen and retaken by someone else. */
  token: string;
}

export interface LockOptions {
  /** A lock whose heartbeat is older than this is stale (default 10 min). */
  staleMs?: number;
  /** How often the holder refreshes the lock's mtime (default staleMs / 4). */
  heartbeatMs?: number;
  /** Give up waiting after this long (default: wait for ever). */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Called once when the lock is busy and the caller starts waiting. */
  onWait?: (holder: LockInfo | null) => void;
}

export interface Lock {
  path: string;
  info: LockInfo;
  /** Stops the heartbeat and deletes the lock file if it is still ours. */
  release(): Promise<void>;
}

/** Why a lock is stale, or null while it is live. */
export function staleReason(info: LockInfo | null, mtimeMs: number, staleMs: number, now = Date.now()): string | null {
  const age = now - mtimeMs;
  if (info && stampState(info) === 'gone') return `its process ${info.pid} is gone`;
  if (age > staleMs) return `its heartbeat is ${Math.round(age / 1000)} s old`;
  // An unreadable lock younger than a few seconds is one being written right now (O_EXCL creates it empty).
  if (!info && age > 5000) return 'it is unreadable';
  return null;
}

async function readLock(path: string): Promise<{ info: LockInfo | null; text: string; mtimeMs: number } | null> {
  try {
    const [text, st] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
    let info: LockInfo | null = null;
    try {
      const o = JSON.parse(text) as LockInfo;
      if (typeof o.pid === 'number' && typeof o.host === 'string' && typeof o.token === 'string') info = o;
    } catch {
      info = null;
    }
    return { info, text, mtimeMs: st.mtimeMs };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

function lockError(what: string, e: unknown): KdqError {
  const why = isStorageError(e) ? describeFsError(e) : `${(e as Error).message}; check that the cache folder is writable`;
  return new KdqError('E_CACHE', `${what}: ${why}`, { cause: e });
}

async function tryCreate(path: string, info: LockInfo): Promise<boolean> {
  let fh;
  try {
    fh = await open(path, 'wx');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw lockError(`cannot create lock file ${path}`, e);
  }
  try {
    await fh.writeFile(JSON.stringify(info));
  } catch (e) {
    // An empty lock would make other processes wait for it to turn stale; leave none behind.
    await fh.close().catch(() => undefined);
    fh = undefined;
    await rm(path, { force: true }).catch(() => undefined);
    throw lockError(`cannot write lock file ${path}`, e);
  } finally {
    await fh?.close();
  }
  return true;
}

/**
 * Removes a stale lock without removing a fresh one that replaced it meanwhile: the file is renamed
 * aside first (only one waiter wins that), then checked to be the one judged stale.
 */
async function breakLock(path: string, staleText: string): Promise<void> {
  const aside = `${path}.stale-${randomBytes(4).toString('hex')}`;
  try {
    await rename(path, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  const text = await readFile(aside, 'utf8').catch(() => null);
  if (text !== null && text !== staleText) {
    // We moved a live lock taken after our check: put it back unless yet another one exists.
    await open(path, 'wx')
      .then(async (fh) => {
        await fh.writeFile(text);
        await fh.close();
      })
      .catch(() => undefined);
  }
  await rm(aside, { force: true });
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/** Takes the lock at `path`, waiting (with backoff) while another live process holds it. */
export async function acquireLock(path: string, opts: LockOptions = {}): Promise<Lock> {
  const staleMs = opts.staleMs ?? 10 * 60_000;
  const started = Date.now();
  await mkdir(dirname(path), { recursive: true }).catch((e: unknown) => {
    throw lockError(`cannot create the lock folder ${dirname(path)}`, e);
  });
  let delay = 25;
  let told = false;
  for (;;) {
    const info: LockInfo = { ...thisProcess(), time: new Date().toISOString(), token: randomBytes(8).toString('hex') };
    if (await tryCreate(path, info)) return held(path, info, opts.heartbeatMs ?? Math.max(10, staleMs / 4));
    const cur = await readLock(path);
    if (cur === null) continue; // released between our attempt and the read
    if (staleReason(cur.info, cur.mtimeMs, staleMs) !== null) {
      await breakLock(path, cur.text);
      continue;
    }
    if (!told) {
      told = true;
      opts.onWait?.(cur.info);
    }
    if (opts.timeoutMs !== undefined && Date.now() - started > opts.timeoutMs) {
      throw new KdqError(
        'E_CACHE',
        `timed out after ${opts.timeoutMs} ms waiting for lock ${path} held by pid ${cur.info?.pid ?? '?'} on ${cur.info?.host ?? '?'}; if that process is gone, delete the lock file`,
      );
    }
    await sleep(delay * (0.75 + Math.random() / 2), opts.signal);
    delay = Math.min(1000, delay * 1.5);
  }
}

function held(path: string, info: LockInfo, heartbeatMs: number): Lock {
  const beat = setInterval(() => {
    const now = new Date();
    utimes(path, now, now).catch(() => undefined);
  }, heartbeatMs);
  beat.unref();
  let released = false;
  return {
    path,
    info,
    async release() {
      if (released) return;
      released = true;
      clearInterval(beat);
      const cur = await readLock(path).catch(() => null);
      if (cur?.info?.token === info.token) await rm(path, { force: true });
    },
  };
}
