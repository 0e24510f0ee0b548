import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KdqError } from '../../src/errors.ts';
import { cachedFileName, fetchVerified } from '../../src/data/download.ts';
import { DIGEST_INDEX_FILE } from '../../src/data/file-digest.ts';
import { imagesIdx } from './idx-fixtures.ts';

const body = Buffer.from(imagesIdx(20, 6, 5));
const bodySha = createHash('sha256').update(body).digest('hex');
const hits: string[] = [];
let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    const url = req.url ?? '/';
    hits.push(url);
    if (url === '/train-images') {
      res.writeHead(200, { 'content-length': body.length, 'content-type': 'application/octet-stream' });
      res.end(body);
    } else if (url === '/chunked') {
      // No content-length: the body's end is the connection's orderly end.
      res.writeHead(200);
      res.write(body.subarray(0, 100));
      setTimeout(() => res.end(body.subarray(100)), 10);
    } else if (url === '/moved') {
      res.writeHead(302, { location: '/hop' });
      res.end();
    } else if (url === '/hop') {
      res.writeHead(301, { location: `${base}/train-images` });
      res.end();
    } else if (url === '/loop') {
      res.writeHead(307, { location: '/loop' });
      res.end();
    } else if (url === '/early') {
      res.writeHead(200, { 'content-length': body.length });
      res.write(body.subarray(0, 40), () => res.socket?.destroy());
    } else if (url === '/stall') {
      res.writeHead(200, { 'content-length': body.length });
      res.write(body.subarray(0, 10)); // then nothing, until the client gives up
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not here');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

let cacheDir: string;
beforeEach(async () => {
  cacheDir = await mkdtemp(join(tmpdir(), 'kdq-dl-'));
  hits.length = 0;
});
afterEach(async () => {
  await rm(cacheDir, { recursive: true, force: true });
});

async function dataError(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(KdqError);
  expect((err as KdqError).code).toBe('E_DATA');
  return (err as Error).message;
}

describe('fetchVerified', () => {
  it('downloads, verifies and caches; a second call uses the cache without the network', async () => {
    const r = await fetchVerified(`${base}/train-images`, bodySha, { cacheDir });
    expect(r).toEqual({ path: join(cacheDir, `${bodySha}-train-images`), downloaded: true });
    expect(Buffer.from(await readFile(r.path)).equals(body)).toBe(true);
    expect((await readdir(cacheDir)).sort()).toEqual([`${bodySha}-train-images`, DIGEST_INDEX_FILE].sort());
    const again = await fetchVerified(`${base}/train-images`, bodySha.toUpperCase(), { cacheDir });
    expect(again).toEqual({ path: r.path, downloaded: false });
    expect(hits).toEqual(['/train-images']);
  });

  it('accepts a body without content-length', async () => {
    const r = await fetchVerified(`${base}/chunked`, bodySha, { cacheDir });
    expect(Buffer.from(await readFile(r.path)).equals(body)).toBe(true);
  });

  it('follows relative and absolute redirects', async () => {
    const r = await fetchVerified(`${base}/moved`, bodySha, { cacheDir });
    expect(r.downloaded).toBe(true);
    expect(hits).toEqual(['/moved', '/hop', '/train-images']);
    // Cached under the name of the URL the config gives, not the one it redirected to.
    expect(r.path).toBe(join(cacheDir, cachedFileName(`${base}/moved`, bodySha)));
  });

  it('gives up on a redirect loop', async () => {
    const msg = await dataError(fetchVerified(`${base}/loop`, bodySha, { cacheDir, maxRedirects: 3 }));
    expect(msg).toContain(`${base}/loop redirects too many times`);
    expect(hits).toEqual(['/loop', '/loop', '/loop', '/loop']);
    expect(await readdir(cacheDir)).toEqual([]);
  });

  it('rejects a wrong sha256 naming URL, expected and actual digest, and leaves nothing behind', async () => {
    const wrong = 'ab'.repeat(32);
    const msg = await dataError(fetchVerified(`${base}/train-images`, wrong, { cacheDir, role: 'data.urls.trainImages' }));
    expect(msg).toContain(`${base}/train-images`);
    expect(msg).toContain(`has sha256 ${bodySha}, expected ${wrong}`);
    expect(msg).toContain('data.urls.trainImages.sha256');
    expect(await readdir(cacheDir)).toEqual([]);
  });

  it('reports a 404 with the URL and leaves nothing behind', async () => {
    const msg = await dataError(fetchVerified(`${base}/missing.gz`, bodySha, { cacheDir, role: 'data.urls.testLabels' }));
    expect(msg).toBe(`data.urls.testLabels: GET ${base}/missing.gz answered 404 Not Found; check data.urls.testLabels.url`);
    expect(await readdir(cacheDir)).toEqual([]);
  });

  it('reports a server that closes the connection early and leaves nothing behind', async () => {
    const msg = await dataError(fetchVerified(`${base}/early`, bodySha, { cacheDir }));
    expect(msg).toMatch(new RegExp(`download of ${base}/early (broke off|ended) after \\d+ bytes`));
    expect(msg).toMatch(/server closed the connection|connection closed early/);
    expect(await readdir(cacheDir)).toEqual([]);
  });

  it('times out on a stalled body and leaves nothing behind', async () => {
    const t0 = Date.now();
    const msg = await dataError(fetchVerified(`${base}/stall`, bodySha, { cacheDir, timeoutMs: 300 }));
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(msg).toContain(`${base}/stall`);
    expect(msg).toContain('no data for 300 ms');
    expect(await readdir(cacheDir)).toEqual([]);
  });

  it('reports an unreachable server', async () => {
    // A port just released by a server of our own is closed: connection refused, no outside traffic.
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const msg = await dataError(fetchVerified(`http://127.0.0.1:${port}/x`, bodySha, { cacheDir }));
    expect(msg).toMatch(/GET http:\/\/127\.0\.0\.1:\d+\/x failed \(.*ECONNREFUSED/);
  });

  it('re-downloads a cached file that no longer matches its digest', async () => {
    const first = await fetchVerified(`${base}/train-images`, bodySha, { cacheDir });
    await writeFile(first.path, 'corrupted on disk');
    const again = await fetchVerified(`${base}/train-images`, bodySha, { cacheDir });
    expect(again.downloaded).toBe(true);
    expect(Buffer.from(await readFile(again.path)).equals(body)).toBe(true);
    expect(hits).toEqual(['/train-images', '/train-images']);
  });

  it('rejects a malformed digest or a non-http URL as a config error before any request', async () => {
    for (const [url, digest, pattern] of [
      [`${base}/train-images`, 'abc', /sha256 'abc' is not a sha256 digest/],
      [`ftp://127.0.0.1/x`, bodySha, /uses ftp:, expected http: or https:/],
      [`not a url`, bodySha, /'not a url' is not a URL/],
    ] as const) {
      const err = await fetchVerified(url, digest, { cacheDir }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(KdqError);
      expect((err as KdqError).code).toBe('E_CONFIG');
      expect((err as Error).message).toMatch(pattern);
    }
    expect(hits).toEqual([]);
  });
});
