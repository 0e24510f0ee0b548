/**
 * A real `kdq run` killed with SIGKILL in the middle of a training stage: the next run completes
 * with the same metrics.json as an uninterrupted run, and the cache holds no half-written entry.
 */
import { execa } from 'execa';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = new URL('../..', import.meta.url).pathname;
const FILE = join(ROOT, 'test/e2e/tiny.yaml');
const KDQ = join(ROOT, 'bin/kdq.mjs');
let base: string;

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'kdq-kill-'));
});
afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

const metricsOf = (runsDir: string) => readFile(join(runsDir, 'e2e-tiny', 'latest', 'metrics.json'), 'utf8');

describe('SIGKILL during a stage', () => {
  it('the rerun completes with the metrics of an uninterrupted run and no half-written entry', { timeout: 900_000 }, async () => {
    const clean = join(base, 'clean');
    await execa('node', [KDQ, 'run', FILE, '--runs-dir', clean], { cwd: ROOT });

    const killed = join(base, 'killed');
    const child = execa('node', [KDQ, 'run', FILE, '--runs-dir', killed], { cwd: ROOT, reject: false });
    // Kill once the distilled student (after teacher and soft labels were committed) is training.
    await new Promise<void>((resolve, reject) => {
      let seen = '';
      child.stderr!.on('data', (chunk: Buffer) => {
        seen += String(chunk);
        if (seen.includes('student@s1: running')) {
          child.kill('SIGKILL');
          resolve();
        }
      });
      child.on('exit', () => reject(new Error(`run ended before the student stage started:\n${seen}`)));
    });
    const r = await child;
    expect(r.signal).toBe('SIGKILL');
    // Nothing was published: no run folder, and the cache has only committed entries and temp folders.
    await expect(readdir(join(killed, 'e2e-tiny'))).rejects.toThrow();

    const rerun = await execa('node', [KDQ, 'run', FILE, '--runs-dir', killed], { cwd: ROOT });
    expect(rerun.stderr).toMatch(/teacher@s1: cached/);
    expect(rerun.stderr).toMatch(/soft-labels@s1: cached/);
    expect(rerun.stderr).toMatch(/student@s1: ran in/);
    expect(await metricsOf(killed)).toBe(await metricsOf(clean));

    // Every entry left in the cache verifies; the killed run's temp folder is gone.
    const ls = await execa('node', [KDQ, 'cache', 'ls', '--runs-dir', killed], { cwd: ROOT });
    expect(ls.stdout).toMatch(/\d+ entries/);
    const tmp = await readdir(join(killed, '.cache', 'tmp')).catch(() => [] as string[]);
    expect(tmp).toEqual([]);
  });
});
