/**
 * `kdq cache ls | gc | verify` through the CLI entry, one test per option and per guarantee: gc
 * frees the partial run folders of dead processes first, keeps what run folders and unfinished
 * runs use, drops by age only when asked, and never touches what kdq did not make.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../../src/cli.ts';
import { Cache } from '../../src/pipeline/cache.ts';
import { beginRun, UNFINISHED_FOLDER } from '../../src/pipeline/unfinished-runs.ts';

const [K1, K2, K3] = ['1'.repeat(64), '2'.repeat(64), '3'.repeat(64)];
let root: string;
let runsDir: string;
let cacheDir: string;
let cache: Cache;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'kdq-cache-admin-'));
  runsDir = join(root, 'runs');
  cacheDir = join(runsDir, '.cache');
  cache = new Cache(cacheDir);
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
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
  const code = await main(argv, { stdout: sink((s) => (out += s)), stderr: sink((s) => (err += s)) });
  return { code, out, err };
}

/** Commits an entry last used `ageMs` ago. */
async function put(key: string, ageMs = 0, c: Cache = cache): Promise<string> {
  const tmp = await c.tmpDir(key);
  await writeFile(join(tmp, 'out.txt'), key.slice(0, 8));
  const dir = await c.commit(key, tmp, { stage: `stage-${key[0]}` });
  const t = new Date(Date.now() - ageMs);
  await utimes(dir, t, t);
  return dir;
}

/** A finished run folder of experiment `name` whose stages.json refers to `keys`. */
async function runFolder(name: string, keys: string[]): Promise<void> {
  const dir = join(runsDir, name, '20260101-000000-abcd');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'stages.json'), JSON.stringify({ format: 2, ok: true, seconds: 1, stages: keys.map((key, i) => ({ id: `s${i}`, key })) }));
}

function deadPid(): number {
  return Number(execFileSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).toString());
}

const keys = async (): Promise<string[]> => (await cache.list()).map((e) => e.key);

describe('kdq cache gc', () => {
  it('without options: drops entries no run folder refers to, and reports what it kept', async () => {
    await put(K1, 3600_000);
    await put(K2, 3600_000);
    await runFolder('kd', [K1]);
    const r = await kdq('cache', 'gc', '--runs-dir', runsDir);
    expect(r).toMatchObject({ code: 0, err: '' });
    expect(r.out).toMatch(/^removed 1 entries and 0 abandoned temp folder\(s\), freed \d+ bytes\nkept 1 entries that run folders use\n$/);
    expect(await keys()).toEqual([K1]);
  });

  it('first deletes the partial run folders of dead processes (a run that filled the disk), never a live one', async () => {
    const dead = join(runsDir, 'kd', `.partial-20260101-000000-abcd-${deadPid()}`);
    const live = join(runsDir, 'kd', `.partial-20260101-000001-abcd-${process.pid}`);
    await mkdir(dead, { recursive: true });
    await writeFile(join(dead, 'teacher.tflite'), new Uint8Array(1000));
    await mkdir(live, { recursive: true });
    const r = await kdq('cache', 'gc', '--runs-dir', runsDir);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`removed 1 unfinished run folder(s) of processes that are gone, freed 1000 bytes:\n  ${dead}\n`);
    expect(r.out).toContain(`no cache at ${cacheDir}: nothing else to remove`);
    expect(await readdir(join(runsDir, 'kd'))).toEqual([live.split('/').at(-1)]);
  });

  it('keeps the entries a failed run computed (younger than its start) and those of a run in progress', async () => {
    await put(K1, 5 * 3600_000); // before the failed run: garbage
    await put(K2, 30 * 60_000); // computed by the failed run
    // The failed run: its process is gone, its record stays.
    const pid = deadPid();
    const started = Date.now() - 3600_000;
    const record = join(cacheDir, UNFINISHED_FOLDER, `${started}~${pid}~0123abcd.json`);
    await mkdir(dirname(record), { recursive: true });
    await writeFile(record, JSON.stringify({ pid, host: hostname(), experiment: 'kd', startedAt: new Date(started).toISOString() }));
    const r = await kdq('cache', 'gc', '--runs-dir', runsDir);
    expect(r.out).toContain('removed 1 entries');
    expect(r.out).toContain(
      `kept 0 entries that run folders use, and 1 entries computed or used since the start of the failed run of kd (pid ${pid}, started ${new Date(started).toISOString()})`,
    );
    expect(r.out).toContain("'kdq cache gc --older-than AGE' drops those not used for AGE");
    expect(await keys()).toEqual([K2]);

    // A run in progress protects even against --older-than.
    await rm(record);
    const running = await beginRun(cache, 'kd', Date.now() - 3600_000);
    expect((await kdq('cache', 'gc', '--runs-dir', runsDir, '--older-than', '1m')).out).toContain('removed 0 entries');
    expect(await keys()).toEqual([K2]);
    await running.finish();
  });

  it('--older-than AGE: also drops entries not used for AGE, even those run folders or a failed run use', async () => {
    await put(K1, 2 * 60_000); // referenced, unused for 2 minutes
    await put(K2, 10_000); // referenced, used 10 s ago
    await put(K3, 2 * 60_000); // a failed run's, unused for 2 minutes
    await runFolder('kd', [K1, K2]);
    const pid = deadPid();
    const started = Date.now() - 3600_000;
    await mkdir(join(cacheDir, UNFINISHED_FOLDER));
    await writeFile(
      join(cacheDir, UNFINISHED_FOLDER, `${started}~${pid}~0123abcd.json`),
      JSON.stringify({ pid, host: hostname(), experiment: 'kd', startedAt: new Date(started).toISOString() }),
    );
    expect((await kdq('cache', 'gc', '--runs-dir', runsDir)).out).toContain('removed 0 entries');
    const r = await kdq('cache', 'gc', '--runs-dir', runsDir, '--older-than', '1m');
    expect(r.code).toBe(0);
    expect(r.out).toContain('removed 2 entries');
    expect(await keys()).toEqual([K2]);
    expect((await kdq('cache', 'gc', '--older-than', 'soon')).err).toBe("kdq: --older-than expects an age like 7d, 12h, 30m or 45s, got 'soon'\n");
  });

  it('--cache-dir and --runs-dir: collects the cache named, with the references of the runs folder named', async () => {
    const other = new Cache(join(root, 'shared-cache'));
    await put(K1, 0, other);
    await put(K2, 0, other);
    await runFolder('kd', [K2]);
    const r = await kdq('cache', 'gc', '--cache-dir', other.dir, '--runs-dir', runsDir);
    expect(r.out).toContain('removed 1 entries');
    expect((await other.list()).map((e) => e.key)).toEqual([K2]);
  });

  it("leaves alone and lists folders kdq did not make, and refuses a cache folder that is not kdq's", async () => {
    await put(K1);
    const mine = join(cacheDir, 'ab', 'abcdef0123456789abcdef');
    await mkdir(mine, { recursive: true });
    await writeFile(join(mine, 'notes.txt'), 'mine');
    const r = await kdq('cache', 'gc', '--runs-dir', runsDir);
    expect(r.out).toContain(
      `left alone 1 path(s) kdq did not make (no valid manifest.json or not named by kdq); delete them by hand if they are yours:\n  ${mine}\n`,
    );
    expect((await stat(join(mine, 'notes.txt'))).size).toBe(4);

    const foreign = join(root, 'home');
    await mkdir(join(foreign, 'ab', 'abcdef0123456789abcdef'), { recursive: true });
    const refused = await kdq('cache', 'gc', '--cache-dir', foreign);
    expect(refused.code).toBe(2);
    expect(refused.err).toMatch(new RegExp(`^kdq: ${foreign} is not a kdq cache: .*\\n$`));
    expect(await readdir(foreign)).toEqual(['ab']);
  });
});

describe('kdq cache ls', () => {
  it('lists entries and whether a run folder uses them; a missing cache is not an error', async () => {
    expect(await kdq('cache', 'ls', '--runs-dir', runsDir)).toMatchObject({ code: 0, out: `no cache at ${cacheDir} (nothing has been cached there yet)\n` });
    await put(K1);
    await put(K2);
    await runFolder('kd', [K1]);
    const r = await kdq('cache', 'ls', '--runs-dir', runsDir);
    expect(r.out).toMatch(
      new RegExp(`^111111111111 +\\d+ B  \\S+  used    stage-1\\n222222222222 +\\d+ B  \\S+  unused  stage-2\\n2 entries, \\d+ bytes in ${cacheDir}\\n$`),
    );
  });

  it("NAME (or --experiment NAME): one experiment's stages, the latest run's first, with their entries or that they are gone", async () => {
    await put(K1);
    await put(K2);
    await runFolder('kd', [K1, K3]); // K3: no longer in the cache
    await runFolder('other', [K2]);
    const { symlink } = await import('node:fs/promises');
    await symlink('20260101-000000-abcd', join(runsDir, 'kd', 'latest'));
    const r = await kdq('cache', 'ls', 'kd', '--runs-dir', runsDir);
    expect(r).toMatchObject({ code: 0, err: '' });
    expect(r.out.split('\n')).toEqual([
      'stage  key           size          last used         runs',
      expect.stringMatching(/^s0 {5}111111111111 {2}\d+ B +\d{4}-\d\d-\d\d \d\d:\d\d {2}1 of 1, latest$/),
      's1     333333333333  not in cache  -                 1 of 1, latest',
      expect.stringMatching(
        new RegExp(`^kd: 1 run \\(latest 20260101-000000-abcd\\); 1 of 2 stage outputs in the cache, \\d+ B in ${cacheDir}; the others were removed`),
      ),
      '',
    ]);
    expect((await kdq('cache', 'ls', '--experiment', 'kd', '--runs-dir', runsDir)).out).toBe(r.out);
    const typo = await kdq('cache', 'ls', 'kdd', '--runs-dir', runsDir);
    expect(typo.code).toBe(2);
    expect(typo.err).toContain("kdq: no run of experiment 'kdd' under");
    expect(typo.err).toContain("did you mean 'kd'?");
    expect((await kdq('cache', 'gc', 'kd', '--runs-dir', runsDir)).code).toBe(2);
    expect((await kdq('cache', 'ls', 'kd', '--experiment', 'other', '--runs-dir', runsDir)).code).toBe(2);
  });

  it('on a file: exit 2, saying it is not a folder (it used to say "empty")', async () => {
    const file = join(root, 'a-file');
    await writeFile(file, 'x');
    const r = await kdq('cache', 'ls', '--cache-dir', file);
    expect(r).toEqual({
      code: 2,
      out: '',
      err: `kdq: the cache ${file} is not a folder; point --cache-dir (or KDQ_CACHE_DIR) at a folder, or at a path that does not exist yet\n`,
    });
    expect((await kdq('cache', 'ls', '--older-than', '1d')).err).toBe("kdq: --older-than is for 'kdq cache gc', not 'kdq cache ls'\n");
  });
});

describe('kdq cache verify', () => {
  it('re-hashes every entry, removes the damaged ones and reports counts', async () => {
    const d1 = await put(K1);
    await put(K2);
    const t = await stat(join(d1, 'out.txt'));
    await writeFile(join(d1, 'out.txt'), 'XXXXXXXX'); // same size
    await utimes(join(d1, 'out.txt'), t.atime, t.mtime);
    const r = await kdq('cache', 'verify', '--runs-dir', runsDir);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(
      /^verified 2 entries: 1 intact \(\d+ bytes re-hashed\), 1 damaged and removed\n {2}111111111111: out.txt has sha256 \S+, manifest says \S+\nthe next run recomputes the stages whose entries were removed\n$/,
    );
    expect(r.err).toMatch(/^warning: cache entry 1{64} .* is corrupt/);
    expect(await keys()).toEqual([K2]);
    expect((await kdq('cache', 'verify', '--runs-dir', runsDir)).out).toMatch(/^verified 1 entries: 1 intact/);
  });
});
