/**
 * The fault harness: a real `kdq run` of the micro experiment, spawned with execa, is killed with
 * SIGKILL at seeded random points, and rerun on the same cache. Every rerun completes with a
 * metrics.json byte-identical to an uninterrupted run's, and the cache never holds a half-written
 * or corrupt entry, a leftover temp folder or a dead process's lock.
 *
 * Trials share one cache so that each makes progress: before a trial the entries of a randomly
 * chosen stage and everything after it are deleted, the victim recomputes from there and is killed
 * a random time after it starts that stage (or the report, or writing the run folder). The reruns
 * run in this process (tf.js is already warm), so a trial costs one CLI start-up, not two.
 *
 * Then the cache is damaged on purpose (a byte flipped keeping size and mtime, a JSON file that
 * does not parse, a missing manifest) and every rerun must heal it and publish the uninterrupted
 * run's files; and `kdq cache gc` is run where it could do harm (foreign folders in the cache, a
 * cache symlinked into a foreign folder, after a run that filled the disk) and must do none.
 */
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readFile, readdir, realpath, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, type RunOutcome } from '../../src/api.ts';
import { main } from '../../src/cli.ts';
import { Cache } from '../../src/pipeline/cache.ts';
import { MANIFEST_FILE } from '../../src/pipeline/manifest.ts';
import { createRng } from '../../src/util/random.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const FILE = join(ROOT, 'test/e2e/micro.yaml');
const KDQ = join(ROOT, 'bin/kdq.mjs');
const NAME = 'e2e-micro';
const TRIALS = Number(process.env.KDQ_FAULT_TRIALS ?? 20);
const SEED = Number(process.env.KDQ_FAULT_SEED ?? 7);

const quiet = new Writable({ write: (_c, _e, cb) => cb() });
let base: string;

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'kdq-faults-'));
});
afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

/** The cache holds only whole, verified entries: no temp folders, no locks, no entry without its manifest. */
async function expectCleanCache(cacheDir: string, when: string): Promise<number> {
  const warnings: string[] = [];
  const cache = new Cache(cacheDir, { deepVerify: true, onWarn: (w) => warnings.push(w) });
  let entries = 0;
  for (const shard of (await readdir(cacheDir)).filter((s) => /^[0-9a-f]{2}$/.test(s))) {
    for (const key of await readdir(join(cacheDir, shard))) {
      expect(await readdir(join(cacheDir, shard, key)), `${when}: entry ${key} has no manifest`).toContain(MANIFEST_FILE);
      expect(await cache.get(key), `${when}: entry ${key} does not verify: ${warnings.join('; ')}`).not.toBeNull();
      entries++;
    }
  }
  expect(warnings, when).toEqual([]);
  return entries;
}

describe('SIGKILL at random points, then rerun', () => {
  it(`${TRIALS} trials: every rerun reproduces the uninterrupted metrics.json byte for byte`, { timeout: 1_200_000 }, async () => {
    // The uninterrupted run, in its own folder and cache.
    const cleanDir = join(base, 'clean');
    const clean = await run(FILE, { runsDir: cleanDir, log: () => undefined, progress: quiet });
    const want = await readFile(join(clean.runDir!, 'metrics.json'), 'utf8');
    // Kill targets: each stage's start (cacheable ones have an entry to delete), and the report.
    const stages = clean.result.stages.filter((s) => s.key !== '');
    expect(stages.length).toBe(11);
    const entries = await expectCleanCache(join(cleanDir, '.cache'), 'the uninterrupted run');
    expect(entries).toBe(10); // every stage but the report

    const runsDir = join(base, 'runs');
    const cacheDir = join(runsDir, '.cache');
    const rng = createRng(SEED);
    const outcomes: { target: string; delayMs: number; killed: boolean; entriesAtKill: number }[] = [];
    for (let trial = 0; trial < TRIALS; trial++) {
      const target = stages[Math.floor(rng() * stages.length)]!;
      const delayMs = Math.floor(rng() * 800);
      // Forget the target stage and everything after it, so the victim has that work to do.
      for (const s of stages.slice(stages.indexOf(target))) await rm(join(cacheDir, s.key.slice(0, 2), s.key), { recursive: true, force: true });

      // One process, killed mid-stage: what a SIGKILL leaves behind (worker processes of --jobs
      // outlive their parent until their current stage's next pause; the next run clears them).
      const victim = execa('node', [KDQ, 'run', FILE, '--runs-dir', runsDir, '--jobs', '1'], { cwd: ROOT, reject: false });
      let seen = '';
      const started = new Promise<boolean>((resolve) => {
        victim.stderr!.on('data', (chunk: Buffer) => {
          seen += String(chunk);
          if (seen.includes(`${target.id}: running`)) resolve(true);
        });
        void victim.then(() => resolve(false));
      });
      if (await started) {
        await new Promise((r) => setTimeout(r, delayMs));
        victim.kill('SIGKILL');
      }
      const r = await victim;
      const killed = r.signal === 'SIGKILL';
      if (!killed) expect(r.exitCode, `trial ${trial}: victim failed on its own:\n${seen}`).toBe(0);
      const entriesAtKill = await expectCleanCache(cacheDir, `trial ${trial} after the kill (${target.id} + ${delayMs} ms)`);
      outcomes.push({ target: target.id, delayMs, killed, entriesAtKill });

      // The rerun completes, with the uninterrupted run's metrics, and leaves nothing behind.
      const rerun = await run(FILE, { runsDir, log: () => undefined, progress: quiet });
      expect(rerun.result.ok).toBe(true);
      expect(await readFile(join(runsDir, NAME, 'latest', 'metrics.json'), 'utf8'), `trial ${trial}: ${target.id} + ${delayMs} ms`).toBe(want);
      expect(await realpath(join(runsDir, NAME, 'latest'))).toBe(await realpath(rerun.runDir!));
      expect(await expectCleanCache(cacheDir, `trial ${trial} after the rerun`)).toBe(entries);
      expect(await readdir(join(cacheDir, 'tmp')), `trial ${trial}: temp folders left`).toEqual([]);
      expect(await readdir(join(cacheDir, 'locks')), `trial ${trial}: locks left`).toEqual([]);
    }
    // Most victims really died mid-run (a kill can miss when the remaining work is shorter than the delay).
    const kills = outcomes.filter((o) => o.killed).length;
    expect(kills, JSON.stringify(outcomes)).toBeGreaterThanOrEqual(Math.ceil(TRIALS * 0.6));
    // The kills hit several different stages, with partial caches of different sizes.
    expect(new Set(outcomes.filter((o) => o.killed).map((o) => o.target)).size).toBeGreaterThanOrEqual(Math.min(5, kills));
    expect(new Set(outcomes.map((o) => o.entriesAtKill)).size).toBeGreaterThanOrEqual(3);
  });
});

/** Runs kdq's CLI in this process; returns the exit code and what it printed. */
async function kdq(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const sink = (append: (t: string) => void) =>
    new Writable({
      write(chunk, _enc, cb) {
        append(String(chunk));
        cb();
      },
    });
  const code = await main(argv, { stdout: sink((t) => (out += t)), stderr: sink((t) => (err += t)) });
  return { code, out, err };
}

/** Rewrites `path` with same-size content and restores its mtime to the nanosecond (touch -r). */
async function tamperKeepingMtime(path: string, edit: (b: Buffer) => Buffer): Promise<void> {
  const ref = `${path}.mtime-ref`;
  await execa('touch', ['-r', path, ref]);
  const before = await readFile(path);
  const after = edit(Buffer.from(before));
  expect(after.length).toBe(before.length);
  await writeFile(path, after);
  await execa('touch', ['-r', ref, path]);
  await rm(ref);
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('a damaged cache is healed, never shipped', () => {
  let runsDir: string;
  let clean: RunOutcome;
  let want: { metrics: string; int8: string };
  const lines: string[] = [];
  const rerun = async () => {
    lines.length = 0;
    return run(FILE, { runsDir, log: (l) => lines.push(l), progress: quiet });
  };
  const entryOf = (id: string) => clean.result.stages.find((s) => s.id === id)!.outDir!;

  beforeAll(async () => {
    runsDir = join(base, 'damaged');
    clean = await run(FILE, { runsDir, log: () => undefined, progress: quiet });
    want = {
      metrics: await readFile(join(clean.runDir!, 'metrics.json'), 'utf8'),
      int8: sha(await readFile(join(clean.runDir!, 'student-int8.tflite'))),
    };
  }, 600_000);

  it('one byte of a cached model.tflite flipped, size and mtime kept: detected, recomputed, the good model published', { timeout: 600_000 }, async () => {
    const entry = entryOf('export:student_int8@s3');
    await tamperKeepingMtime(join(entry, 'model.tflite'), (b) => {
      b[100] ^= 0xff;
      return b;
    });
    const r = await rerun();
    expect(lines.filter((l) => l.startsWith('warning:'))).toEqual([
      expect.stringMatching(new RegExp(`^warning: cache entry \\w+ at ${entry} is corrupt \\(model.tflite has sha256 .*\\); deleting it`)),
    ]);
    expect(lines).toContain('export:student_int8@s3: running (no entry for key (same key as the last run; its entry was removed))');
    expect(sha(await readFile(join(r.runDir!, 'student-int8.tflite')))).toBe(want.int8);
    expect(await readFile(join(r.runDir!, 'metrics.json'), 'utf8')).toBe(want.metrics);
    expect(await expectCleanCache(join(runsDir, '.cache'), 'after healing model.tflite')).toBe(10);
  });

  it('a cached evaluation.json that does not parse (size and mtime kept): healed and recomputed, no "Unexpected token"', { timeout: 600_000 }, async () => {
    const entry = entryOf('evaluate:student@s3');
    await tamperKeepingMtime(join(entry, 'evaluation.json'), (b) => {
      b[0] = 'x'.charCodeAt(0);
      return b;
    });
    const r = await rerun();
    expect(lines.filter((l) => l.startsWith('warning:'))).toEqual([
      expect.stringMatching(new RegExp(`^warning: cache entry \\w+ at ${entry} is corrupt \\(evaluation.json has sha256`)),
    ]);
    expect(await readFile(join(r.runDir!, 'metrics.json'), 'utf8')).toBe(want.metrics);
  });

  it(
    'a cached evaluation.json that does not parse although its manifest matches: the warning names the file, the stage reruns',
    { timeout: 600_000 },
    async () => {
      const entry = entryOf('evaluate:student@s3');
      const text = 'x' + (await readFile(join(entry, 'evaluation.json'), 'utf8')).slice(1);
      await writeFile(join(entry, 'evaluation.json'), text);
      const manifest = JSON.parse(await readFile(join(entry, MANIFEST_FILE), 'utf8'));
      manifest.files['evaluation.json'] = {
        size: Buffer.byteLength(text),
        sha256: sha(Buffer.from(text)),
        mtimeMs: (await stat(join(entry, 'evaluation.json'))).mtimeMs,
      };
      await writeFile(join(entry, MANIFEST_FILE), JSON.stringify(manifest));
      const r = await rerun();
      expect(lines.filter((l) => l.startsWith('warning:'))).toEqual([
        expect.stringMatching(
          new RegExp(
            `^warning: cache entry \\w+ at ${entry} is corrupt \\(evaluation.json: not valid JSON: Unexpected token 'x'.*\\); deleting it, the stage will be recomputed$`,
          ),
        ),
      ]);
      expect(lines).toContain('evaluate:student@s3: cached');
      expect(lines.some((l) => l.startsWith('evaluate:student@s3: running (its cache entry was damaged (evaluation.json: not valid JSON'))).toBe(true);
      expect(await readFile(join(r.runDir!, 'metrics.json'), 'utf8')).toBe(want.metrics);
    },
  );

  it(
    "an entry without its manifest: gc leaves it (it cannot prove it is kdq's), verify lists it, a run that needs it heals it",
    { timeout: 600_000 },
    async () => {
      const entry = entryOf('export:teacher@s3');
      await rm(join(entry, MANIFEST_FILE));
      const gc = await kdq('cache', 'gc', '--runs-dir', runsDir);
      expect(gc.code).toBe(0);
      expect(gc.out).toContain(
        `left alone 1 path(s) kdq did not make (no valid manifest.json or not named by kdq); delete them by hand if they are yours:\n  ${entry}\n`,
      );
      expect(await readdir(entry)).toContain('model.tflite');
      expect((await kdq('cache', 'verify', '--runs-dir', runsDir)).out).toMatch(new RegExp(`^verified 9 entries: 9 intact .*\\n.*\\n  ${entry}\\n$`));
      const r = await rerun();
      expect(lines.filter((l) => l.startsWith('warning:'))).toEqual([
        expect.stringMatching(/manifest.json is missing\); deleting it, the stage will be recomputed$/),
      ]);
      expect(await readFile(join(r.runDir!, 'metrics.json'), 'utf8')).toBe(want.metrics);
      expect(await expectCleanCache(join(runsDir, '.cache'), 'after healing a missing manifest')).toBe(10);
    },
  );
});

describe('kdq cache gc where it could do harm', () => {
  it("foreign folders inside the cache are listed and left alone; kdq's unreferenced entries go", { timeout: 600_000 }, async () => {
    const runsDir = join(base, 'gc-foreign');
    await run(FILE, { runsDir, log: () => undefined, progress: quiet });
    const cacheDir = join(runsDir, '.cache');
    const theirs = [join(cacheDir, 'ab', 'abcdef0123456789abcdef'), join(cacheDir, 'notes'), join(cacheDir, 'cd')];
    await mkdir(theirs[0], { recursive: true });
    await writeFile(join(theirs[0], 'thesis.tex'), "not kdq's");
    await mkdir(theirs[1]);
    await mkdir(join(base, 'elsewhere'), { recursive: true });
    await symlink(join(base, 'elsewhere'), theirs[2]);
    // No run folder refers to anything any more: every kdq entry is garbage, nothing else is.
    await rm(join(runsDir, NAME), { recursive: true });
    const r = await kdq('cache', 'gc', '--runs-dir', runsDir);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^removed 10 entries and 0 abandoned temp folder\(s\), freed \d+ bytes\n/);
    for (const p of theirs) expect(r.out).toContain(`\n  ${p}`);
    expect(await readFile(join(theirs[0], 'thesis.tex'), 'utf8')).toBe("not kdq's");
    expect((await lstat(theirs[2])).isSymbolicLink()).toBe(true);
    expect(await new Cache(cacheDir).list()).toEqual([]);
  });

  it('a .cache symlinked into a foreign folder: run and gc refuse (exit 2) and write or delete nothing there', { timeout: 600_000 }, async () => {
    const standIn = join(base, 'etc');
    await mkdir(join(standIn, 'ab', 'abcdef0123456789abcdef'), { recursive: true });
    await writeFile(join(standIn, 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
    const runsDir = join(base, 'gc-symlink');
    await mkdir(runsDir);
    await symlink(standIn, join(runsDir, '.cache'));
    const listing = async () => (await readdir(standIn, { recursive: true })).sort();
    const before = await listing();
    const refusal = new RegExp(
      `^kdq: ${join(runsDir, '.cache')} \\(a symlink to ${standIn}\\) is not a kdq cache: it has no kdq CACHEDIR.TAG and it holds "passwd", which kdq does not write\\.`,
    );
    const ran = await kdq('run', FILE, '--runs-dir', runsDir);
    expect(ran.code).toBe(2);
    expect(ran.err).toMatch(refusal);
    const gc = await kdq('cache', 'gc', '--runs-dir', runsDir);
    expect(gc.code).toBe(2);
    expect(gc.err).toMatch(refusal);
    expect(await listing()).toEqual(before);
  });

  it('after a run filled the disk: gc deletes its partial run folder first and keeps every entry it computed', { timeout: 600_000 }, async (ctx) => {
    const runsDir = join(base, 'gc-full');
    const cacheDir = join(base, 'gc-full-cache');
    await mkdir(runsDir);
    if (process.getuid?.() !== 0 || (await execa('mount', ['-t', 'tmpfs', '-o', 'size=24k', 'tmpfs', runsDir], { reject: false })).exitCode !== 0)
      return ctx.skip();
    try {
      // The stages fit in the cache (another disk); the run folder does not fit in the runs folder.
      const failed = await execa('node', [KDQ, 'run', FILE, '--runs-dir', runsDir, '--cache-dir', cacheDir], { cwd: ROOT, reject: false });
      expect(failed.exitCode).toBe(1);
      expect(failed.stderr).toMatch(
        /kdq: cannot write .*\/\.partial-[^/]+\/.*: the disk is full \(ENOSPC\): free some space; `kdq cache gc` deletes the unfinished run folders of dead kdq processes and the cache entries no run folder uses, and keeps those of failed and running runs$/,
      );
      expect((await readdir(join(runsDir, NAME))).filter((n) => n.startsWith('.partial-'))).toHaveLength(1);

      const gc = await kdq('cache', 'gc', '--runs-dir', runsDir, '--cache-dir', cacheDir);
      expect(gc.code).toBe(0);
      expect(gc.out).toMatch(/^removed 1 unfinished run folder\(s\) of processes that are gone, freed \d+ bytes:\n/);
      expect(gc.out).toContain('removed 0 entries');
      expect(gc.out).toContain('10 entries computed or used since the start of the failed run of e2e-micro');
      expect((await readdir(join(runsDir, NAME))).filter((n) => n.startsWith('.partial-'))).toEqual([]);
      expect(await new Cache(cacheDir).list()).toHaveLength(10);
      // With room again, the rerun computes nothing: the failed run's work survived.
      const lines: string[] = [];
      await run(FILE, { runsDir: join(base, 'gc-full-roomy'), cacheDir, log: (l) => lines.push(l), progress: quiet });
      expect(lines.filter((l) => l.endsWith(': cached'))).toHaveLength(10);
    } finally {
      await execa('umount', ['-l', runsDir], { reject: false });
    }
  });
});
