/** CIFAR through `download`, against a server on 127.0.0.1 serving files in the binary format that the tests make. */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fetchCifar } from '../../../src/data/formats/cifar-download.ts';
import { probeCifar, readCifar } from '../../../src/data/formats/cifar.ts';
import { CIFAR10_NAMES, cifarPixel, writeCifar10, writeCifar100 } from './cifar-fixtures.ts';
import { dataError, tempDir } from './fixtures.ts';

const served = new Map<string, Buffer>();
const hits: string[] = [];
let server: Server;
let base: string;
let work: { dir: string; cleanup: () => Promise<void> };

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Tars and gzips `folder` (inside `parent`) with GNU tar, as the official archives are. */
function tarGz(parent: string, folder: string): Buffer {
  return execFileSync('tar', ['-czf', '-', '-C', parent, folder], { maxBuffer: 64 << 20 });
}

beforeAll(async () => {
  work = await tempDir('cifar-dl-src');
  await writeCifar10(join(work.dir, 'cifar-10-batches-bin'), 2, 3);
  served.set('/cifar-10-binary.tar.gz', tarGz(work.dir, 'cifar-10-batches-bin'));
  for (const name of await readdir(join(work.dir, 'cifar-10-batches-bin'))) {
    served.set(`/files/${name}`, await readFile(join(work.dir, 'cifar-10-batches-bin', name)));
  }
  await writeCifar100(join(work.dir, 'cifar-100-binary'), 120, 10);
  served.set('/cifar-100-binary.tar.gz', tarGz(work.dir, 'cifar-100-binary'));
  await rm(join(work.dir, 'cifar-10-batches-bin', 'test_batch.bin'));
  served.set('/incomplete.tar.gz', tarGz(work.dir, 'cifar-10-batches-bin'));

  server = createServer((req, res) => {
    hits.push(req.url ?? '');
    const body = served.get(req.url ?? '');
    if (!body) {
      res.writeHead(404);
      res.end();
      return;
    }
    res.writeHead(200, { 'content-length': body.length });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await work.cleanup();
});

let cache: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir: cache, cleanup } = await tempDir('cifar-cache'));
  hits.length = 0;
});
afterEach(() => cleanup());

const archive = (path: string) => ({ archive: { url: `${base}${path}`, sha256: sha(served.get(path) as Buffer) } });

describe('cifar download', () => {
  it('fetches the official-style archive, verifies it, unpacks it once and reads it', async () => {
    const files = await fetchCifar('cifar10', archive('/cifar-10-binary.tar.gz'), cache);
    const data = await readCifar({ kind: 'cifar10', files });
    expect([data.trainCount, data.testCount]).toEqual([10, 3]);
    expect(data.classNames).toEqual(CIFAR10_NAMES);
    expect(data.train.x[(5 * 32 + 7) * 3 + 2]).toBe(cifarPixel(0, 5, 7, 2));
    expect(hits).toEqual(['/cifar-10-binary.tar.gz']);

    // Second run: no request, no unpacking (the unpacked folder is reused as it is).
    const unpacked = join(cache, `${sha(served.get('/cifar-10-binary.tar.gz') as Buffer)}-unpacked`);
    const before = (await readdir(unpacked)).sort();
    expect(before).toContain('.kdq-unpacked');
    const again = await fetchCifar('cifar10', archive('/cifar-10-binary.tar.gz'), cache);
    expect(again).toEqual(files);
    expect(hits).toEqual(['/cifar-10-binary.tar.gz']);
    expect((await readdir(cache)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('replaces an unpacked folder that lacks its completion marker', async () => {
    await fetchCifar('cifar10', archive('/cifar-10-binary.tar.gz'), cache);
    const unpacked = join(cache, `${sha(served.get('/cifar-10-binary.tar.gz') as Buffer)}-unpacked`);
    await rm(join(unpacked, '.kdq-unpacked'));
    await rm(join(unpacked, 'data_batch_5.bin'));
    const files = await fetchCifar('cifar10', archive('/cifar-10-binary.tar.gz'), cache);
    expect((await probeCifar({ kind: 'cifar10', files })).trainCount).toBe(10);
  });

  it('fetches each file by its own URL and sha256', async () => {
    const files = Object.fromEntries(
      [...served.keys()].filter((k) => k.startsWith('/files/')).map((k) => [k.slice(7), { url: `${base}${k}`, sha256: sha(served.get(k) as Buffer) }]),
    );
    const located = await fetchCifar('cifar10', { files }, cache);
    const info = await probeCifar({ kind: 'cifar10', files: located });
    expect([info.trainCount, info.testCount, info.classNames?.[9]]).toEqual([10, 3, 'truck']);
    expect(hits.length).toBe(7);
  });

  it('unpacks CIFAR-100 with both label-name files', async () => {
    const files = await fetchCifar('cifar100', archive('/cifar-100-binary.tar.gz'), cache);
    const coarse = await probeCifar({ kind: 'cifar100', files, labels: 'coarse' });
    expect([coarse.numClasses, coarse.classNames?.[19], coarse.trainCount]).toEqual([20, 'coarse_19', 120]);
    expect((await probeCifar({ kind: 'cifar100', files })).classNames?.[0]).toBe('fine_0');
  });

  it('rejects an archive whose sha256 differs, and unpacks nothing', async () => {
    const spec = { archive: { url: `${base}/cifar-10-binary.tar.gz`, sha256: 'ab'.repeat(32) } };
    expect(await dataError(fetchCifar('cifar10', spec, cache))).toContain(`expected ${'ab'.repeat(32)}`);
    expect(await readdir(cache)).toEqual([]);
  });

  it('rejects an archive without the binary files, naming the missing ones', async () => {
    const msg = await dataError(fetchCifar('cifar10', archive('/incomplete.tar.gz'), cache));
    expect(msg).toContain('the archive lacks test_batch.bin; use the binary version of cifar10 (cifar-10-binary.tar.gz)');
    expect((await readdir(cache)).filter((n) => n.includes('unpacked'))).toEqual([]);
  });
});
