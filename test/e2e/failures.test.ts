/**
 * Runs that fail after the file was accepted, through the CLI entry (`main`): a diverging loss, a
 * download whose sha256 does not match, a corrupt data file, a read-only and a full runs folder.
 * Each exits with its documented code and a message that names the place and the fix, prints no
 * stack trace, publishes no run folder and leaves no cache entry for the failed stage.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli.ts';
import { Cache } from '../../src/pipeline/cache.ts';
import { imagesIdx, labelsIdx } from '../data/idx-fixtures.ts';

const MICRO = new URL('./micro.yaml', import.meta.url).pathname;
let base: string;

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'kdq-failures-'));
});
afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

async function kdq(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const sink = (append: (s: string) => void) =>
    new Writable({
      write(chunk, _enc, cb) {
        append(String(chunk));
        cb();
      },
    });
  // Training progress bars go to process.stderr; they are not part of what is checked here.
  const code = await main(argv, { stdout: sink((s) => (out += s)), stderr: sink((s) => (err += s)) });
  return { code, out, err };
}

/** Stage ids of the committed cache entries. */
async function cachedStages(cacheDir: string): Promise<string[]> {
  const entries = await new Cache(cacheDir).list();
  return entries.map((e) => (e.meta as { stage: string }).stage).sort();
}

/** No run folder was published for the experiment. */
async function expectNoRunFolder(runsDir: string): Promise<void> {
  const names = await readdir(runsDir).catch(() => [] as string[]);
  expect(names.filter((n) => !n.startsWith('.'))).toEqual([]);
}

function expectClean(err: string): void {
  expect(err).not.toMatch(/\n\s+at /);
  expect(err).not.toContain('internal error');
}

describe('a diverging loss', () => {
  it('stops with E_DIVERGED naming stage, epoch and step, suggests a lower learning rate, caches nothing for the stage', async () => {
    const runsDir = join(base, 'diverge');
    // A linear teacher and a huge SGD step: the logits overflow float32 on the second step.
    const r = await kdq(
      'run',
      MICRO,
      '--runs-dir',
      runsDir,
      '--set',
      'teacher.layers=[{type: flatten}, {type: dense, units: 10}]',
      '--set',
      'teacher.training.optimizer=sgd',
      '--set',
      'teacher.training.learningRate=1e38',
    );
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      /kdq: stage "teacher@s3" failed: stage teacher@s3: loss became (NaN|-?Infinity) at epoch 1, step \d of 4; lower training\.learningRate \(now 1e\+38\)/,
    );
    expect(r.err).toMatch(/skipped because of it: soft-labels@s3, student@s3/);
    expectClean(r.err);
    expect(r.out).toBe('');
    expect(await cachedStages(join(runsDir, '.cache'))).toEqual(['data']);
    await expectNoRunFolder(runsDir);
    expect(await readdir(join(runsDir, '.cache', 'tmp'))).toEqual([]);
  });
});

describe('bad data found when the run reads it', () => {
  let server: Server;
  let url: string;
  const files = {
    trainImages: Buffer.from(imagesIdx(64, 28, 28)),
    trainLabels: Buffer.from(labelsIdx(64, 10)),
    testImages: Buffer.from(imagesIdx(32, 28, 28)),
    testLabels: Buffer.from(labelsIdx(32, 10)),
  };
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

  beforeAll(async () => {
    server = createServer((req, res) => {
      const body = files[(req.url ?? '/').slice(1) as keyof typeof files];
      if (!body) {
        res.writeHead(404);
        res.end();
        return;
      }
      res.writeHead(200, { 'content-length': body.length });
      res.end(body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('a download whose sha256 does not match exits 2 naming the key; the file is never used or kept', async () => {
    const dir = join(base, 'sha');
    await mkdir(dir, { recursive: true });
    const wrong = 'f'.repeat(64);
    const urls = Object.entries(files)
      .map(([k, b]) => `    ${k}: { url: '${url}/${k}', sha256: '${k === 'trainLabels' ? wrong : sha(b)}' }`)
      .join('\n');
    const file = join(dir, 'download.yaml');
    await writeFile(file, `extends: ${MICRO}\ndata:\n  source: download\n  trainLimit: null\n  testLimit: null\n  urls:\n${urls}\n`);
    const runsDir = join(dir, 'runs');
    const r = await kdq('run', file, '--runs-dir', runsDir);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`data.urls.trainLabels: the file at ${url}/trainLabels has sha256 ${sha(files.trainLabels)}, expected ${wrong}`);
    expect(r.err).toContain('put its digest in data.urls.trainLabels.sha256');
    expect(r.err).not.toMatch(/teacher@s3: running/);
    expectClean(r.err);
    expect(await cachedStages(join(runsDir, '.cache'))).toEqual([]);
    await expectNoRunFolder(runsDir);
    // Only verified files are kept: nothing of the mismatched one, no temp download.
    const kept = await readdir(join(runsDir, '.cache', 'downloads')).catch(() => [] as string[]);
    expect(kept.filter((f) => f.includes('trainLabels') || f.endsWith('.tmp'))).toEqual([]);
  });

  it('a data file that is not IDX exits 2 naming the file, before any training', async () => {
    const dir = join(base, 'corrupt');
    await mkdir(dir, { recursive: true });
    for (const [k, b] of Object.entries(files)) await writeFile(join(dir, `${k}.idx`), k === 'testImages' ? Buffer.from('<html>not found</html>') : b);
    const file = join(dir, 'idx.yaml');
    const paths = Object.keys(files)
      .map((k) => `    ${k}: ${k}.idx`)
      .join('\n');
    await writeFile(file, `extends: ${MICRO}\ndata:\n  source: idx\n  trainLimit: null\n  testLimit: null\n  files:\n${paths}\n`);
    const runsDir = join(dir, 'runs');
    const r = await kdq('run', file, '--runs-dir', runsDir);
    expect(r.code).toBe(2);
    expect(r.err).toContain(join(dir, 'testImages.idx'));
    expect(r.err).not.toMatch(/teacher@s3: running/);
    expectClean(r.err);
    expect(await cachedStages(join(runsDir, '.cache'))).toEqual([]);
    await expectNoRunFolder(runsDir);
  });
});

/** Mounts a tmpfs at `dir` (root only); false when this machine does not allow it. */
async function mountTmpfs(dir: string, options: string): Promise<boolean> {
  await mkdir(dir, { recursive: true });
  if (process.getuid?.() !== 0) return false;
  const r = await execa('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir], { reject: false });
  return r.exitCode === 0;
}

describe('runs folder on a file system that refuses writes (a real tmpfs; skipped where mount is not allowed)', () => {
  const mounts: string[] = [];
  afterAll(async () => {
    for (const m of mounts) await execa('umount', ['-l', m], { reject: false });
  });

  it('read-only: exits 1 before any stage runs, naming the folder and the fix', async (ctx) => {
    const dir = join(base, 'ro');
    if (!(await mountTmpfs(dir, 'size=1m,ro'))) return ctx.skip();
    mounts.push(dir);
    const r = await kdq('run', MICRO, '--runs-dir', dir);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      new RegExp(
        `^kdq: cannot (write to|create) folder ${dir}.*: permission denied \\(EROFS: read-only folder\\?\\): choose a writable folder with --runs-dir / --cache-dir\\n$`,
      ),
    );
    expect(r.err).not.toContain('running');
    expectClean(r.err);
  });

  it('full: exits 1 with "the disk is full" and the path; every cache entry left is whole', async (ctx) => {
    const dir = join(base, 'full');
    // Room for the write checks and the first small entries, not for the models.
    if (!(await mountTmpfs(dir, 'size=24k'))) return ctx.skip();
    mounts.push(dir);
    const r = await kdq('run', MICRO, '--runs-dir', dir);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      new RegExp(
        `kdq: .*${dir}/.*the disk is full \\(ENOSPC\\): free some space; \`kdq cache gc\` deletes the unfinished run folders of dead kdq processes and the cache entries no run folder uses, and keeps those of failed and running runs`,
      ),
    );
    expectClean(r.err);
    await expectNoRunFolder(dir);
    const warnings: string[] = [];
    const cache = new Cache(join(dir, '.cache'), { deepVerify: true, onWarn: (w) => warnings.push(w) });
    for (const e of await cache.list()) expect(await cache.get(e.key)).not.toBeNull();
    expect(warnings).toEqual([]);
    expect(await readdir(join(dir, '.cache', 'tmp')).catch(() => [])).toEqual([]);
  });
});
