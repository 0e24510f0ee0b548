/**
 * Downloads a file whose sha256 is known in advance, into a content-addressed cache folder. The
 * body streams to a temp file in that folder while it is hashed; only a file whose digest matches
 * is renamed to its final name, so a reader of the cache never sees a partial or unverified file.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { basename, join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { KdqError } from '../errors.ts';
import { makeDirs } from '../util/atomic.ts';
import { digestFile, rememberDigests } from './file-digest.ts';

export interface DownloadOptions {
  /** Folder of verified files; created when missing. */
  cacheDir: string;
  /** Abort when the server sends nothing for this long (connect, headers or body). Default 30 s. */
  timeoutMs?: number;
  /** Redirects followed before giving up. Default 5. */
  maxRedirects?: number;
  /** Names the file in errors, e.g. `data.urls.trainImages`. */
  role?: string;
}

export interface DownloadResult {
  /** The verified file in the cache folder. */
  path: string;
  /** False when a verified copy was already cached and the network was not used. */
  downloaded: boolean;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** Final name of a verified file: the digest keeps equal content in one place, the URL's name keeps it readable. */
export function cachedFileName(url: string, sha256: string): string {
  let name = 'file';
  try {
    name = basename(new URL(url).pathname) || 'file';
  } catch {
    // An unparsable URL fails later with a clear error; the name only decorates the path.
  }
  return `${sha256}-${name.replace(/[^A-Za-z0-9._-]/g, '_')}`;
}

/**
 * Returns the path of a verified copy of `url` in `opts.cacheDir`, downloading it when no cached
 * copy with digest `sha256` exists. A cached copy is re-verified (by the digest index when its size
 * and mtime are unchanged, otherwise by hashing it); a corrupt one is deleted and fetched again.
 */
export async function fetchVerified(url: string, sha256: string, opts: DownloadOptions): Promise<DownloadResult> {
  const role = opts.role ?? 'download';
  const expected = sha256.toLowerCase();
  if (!SHA256_HEX.test(expected)) {
    throw new KdqError('E_CONFIG', `${role}.sha256 '${sha256}' is not a sha256 digest; give the 64 hex digits of the file (e.g. from \`sha256sum FILE\`)`);
  }
  const parsed = parseUrl(url, role);
  const final = join(opts.cacheDir, cachedFileName(url, expected));

  const cached = await digestFile(final, opts.cacheDir, role).catch(() => null);
  if (cached && cached.sha256 === expected) return { path: final, downloaded: false };
  if (cached) await rm(final, { force: true }); // corrupt cache entry: never trusted, fetched again

  await makeDirs(opts.cacheDir).catch((err: unknown) => {
    throw new KdqError('E_DATA', `cannot create the download folder '${opts.cacheDir}' (${(err as Error).message}); set data.cacheDir to a writable folder`, {
      cause: err,
    });
  });
  const tmp = join(opts.cacheDir, `.download-${process.pid}-${randomBytes(6).toString('hex')}.tmp`);
  try {
    const actual = await downloadTo(parsed, tmp, {
      timeoutMs: opts.timeoutMs ?? 30_000,
      redirectsLeft: opts.maxRedirects ?? 5,
      role,
      originalUrl: url,
    });
    if (actual !== expected) {
      throw new KdqError(
        'E_DATA',
        `${role}: the file at ${url} has sha256 ${actual}, expected ${expected}; ` +
          `the download is corrupt or the file changed on the server: if the new file is the one you want, put its digest in ${role}.sha256`,
      );
    }
    await rename(tmp, final);
  } finally {
    await rm(tmp, { force: true });
  }
  await rememberDigests([{ path: final, sha256: expected }], opts.cacheDir);
  return { path: final, downloaded: true };
}

/**
 * The path of a verified copy of `url` already in `cacheDir`, or null: never the network. For
 * `kdq validate`, which reads a download's headers when it is there and never fetches it.
 */
export async function findVerified(url: string, sha256: string, cacheDir: string): Promise<string | null> {
  const final = join(cacheDir, cachedFileName(url, sha256.toLowerCase()));
  const cached = await digestFile(final, cacheDir).catch(() => null);
  return cached && cached.sha256 === sha256.toLowerCase() ? final : null;
}

function parseUrl(url: string, role: string): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch (err) {
    throw new KdqError('E_CONFIG', `${role}.url '${url}' is not a URL; write it as http://... or https://...`, { cause: err });
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new KdqError('E_CONFIG', `${role}.url '${url}' uses ${u.protocol}, expected http: or https:; for a local file use data.source: idx`);
  }
  return u;
}

interface FetchState {
  timeoutMs: number;
  /** Set when the idle timeout destroyed the request, so the error can say so instead of 'aborted'. */
  stalled?: boolean;
  redirectsLeft: number;
  role: string;
  originalUrl: string;
}

/** GETs `url` (following redirects) into `dest`; resolves to the body's sha256. */
async function downloadTo(url: URL, dest: string, st: FetchState): Promise<string> {
  const res = await get(url, st);
  const status = res.statusCode ?? 0;
  if (REDIRECTS.has(status)) {
    res.resume();
    const location = res.headers.location;
    if (!location) throw new KdqError('E_DATA', `${st.role}: ${url} answered ${status} without a Location header; fix the URL`);
    if (st.redirectsLeft <= 0) {
      throw new KdqError('E_DATA', `${st.role}: ${st.originalUrl} redirects too many times (last to ${location}); use the final URL or fix the server`);
    }
    const next = parseUrl(new URL(location, url).href, st.role);
    return downloadTo(next, dest, { ...st, redirectsLeft: st.redirectsLeft - 1 });
  }
  if (status < 200 || status >= 300) {
    res.resume();
    throw new KdqError('E_DATA', `${st.role}: GET ${url} answered ${status} ${res.statusMessage ?? ''}`.trimEnd() + `; check ${st.role}.url`);
  }

  const hash = createHash('sha256');
  let received = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      received += chunk.length;
      done(null, chunk);
    },
  });
  try {
    await pipeline(res, tap, createWriteStream(dest));
  } catch (err) {
    if (err instanceof KdqError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    const closed = code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE' || (err as Error).message === 'aborted';
    const why = st.stalled ? `no data for ${st.timeoutMs} ms` : closed ? 'the server closed the connection' : (err as Error).message;
    throw new KdqError('E_DATA', `${st.role}: the download of ${url} broke off after ${received} bytes (${why}); try again, or check the server`, {
      cause: err,
    });
  }
  // A server that closes the connection early can still end the stream cleanly; the length says so.
  const declared = Number(res.headers['content-length']);
  if (!res.complete || (Number.isFinite(declared) && received !== declared)) {
    throw new KdqError(
      'E_DATA',
      `${st.role}: the download of ${url} ended after ${received} bytes` +
        (Number.isFinite(declared) ? ` of ${declared}` : '') +
        `; the connection closed early: try again, or check the server`,
    );
  }
  return hash.digest('hex');
}

/** One GET, failing with E_DATA when the server is unreachable or silent for `timeoutMs`. */
function get(url: URL, st: FetchState): Promise<http.IncomingMessage> {
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolvePromise, reject) => {
    const req = client.get(url, { headers: { 'user-agent': 'kdq', 'accept-encoding': 'identity' } }, resolvePromise);
    // The socket's idle timeout covers connect, headers and body alike: a stalled body must not
    // hang the run. Destroying the request also fails the response stream being piped.
    req.setTimeout(st.timeoutMs, () => {
      st.stalled = true;
      req.destroy(new Error(`no data for ${st.timeoutMs} ms`));
    });
    req.on('error', (err) => {
      reject(new KdqError('E_DATA', `${st.role}: GET ${url} failed (${err.message}); check the URL and that the server is reachable`, { cause: err }));
    });
  });
}
