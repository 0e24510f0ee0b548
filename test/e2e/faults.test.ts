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
 */
import { execa } from 'execa';
import { mkdtemp, readFile, readdir, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/api.ts';
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

      const victim = execa('node', [KDQ, 'run', FILE, '--runs-dir', runsDir], { cwd: ROOT, reject: false });
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
