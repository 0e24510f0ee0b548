/**
 * The Redis connection of the BullMQ executor and workers: `redis://[user:password@]HOST:PORT[/DB]`
 * (or `rediss://` for TLS) parsed into ioredis options, and a reachability check with a timeout,
 * so an unreachable Redis is a clear error instead of ioredis retrying for ever.
 */
import type { RedisOptions } from 'ioredis';
import { KdqError } from '../errors.ts';

/** BullMQ's queue of stage jobs (the flows' parents are in it too). */
export const STAGE_QUEUE = 'kdq-stages';

/** ioredis options for `url`; throws E_USAGE with an example when it is not a redis URL. */
export function redisOptions(url: string): RedisOptions {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new KdqError('E_USAGE', `--redis '${url}' is not a URL; write redis://HOST:PORT, e.g. redis://127.0.0.1:6379`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new KdqError('E_USAGE', `--redis '${url}' must start with redis:// (or rediss:// for TLS), e.g. redis://127.0.0.1:6379`);
  }
  const db = u.pathname.replace(/^\//, '');
  if (db !== '' && !/^\d+$/.test(db)) throw new KdqError('E_USAGE', `--redis '${url}': the path must be a database number (redis://HOST:PORT/0), got '/${db}'`);
  return {
    host: u.hostname || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(db !== '' ? { db: Number(db) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
    // BullMQ's blocking commands must not time out; it insists on this for workers.
    maxRetriesPerRequest: null,
  };
}

/** Resolves when Redis at `url` answers PING; throws E_EXECUTOR naming the URL and the fix otherwise. */
export async function checkRedis(url: string, timeoutMs = 5000): Promise<void> {
  const { Redis } = await import('ioredis');
  const conn = new Redis({ ...redisOptions(url), lazyConnect: true, retryStrategy: () => null, connectTimeout: timeoutMs });
  conn.on('error', () => undefined); // reported below
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      conn.connect().then(() => conn.ping()),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } catch (e) {
    throw new KdqError(
      'E_EXECUTOR',
      `cannot reach Redis at ${url}: ${(e as Error).message || String(e)}; start it (e.g. redis-server --port 6379) or fix --redis`,
      { cause: e },
    );
  } finally {
    clearTimeout(timer);
    conn.disconnect();
  }
}
