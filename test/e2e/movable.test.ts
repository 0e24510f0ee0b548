/**
 * Run folders are movable (issue 22.5): a real (micro) run and a two-point sweep, their runs folder
 * copied elsewhere without its cache (as a CI artifact is), read there by `kdq runs` and `kdq diff`
 * as in place; nothing they hold names the folder they were written in, and `kdq cache gc` still
 * knows which entries they use.
 */
import { cp, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, sweep } from '../../src/api.ts';
import { kdqCli as kdq, sink } from '../capture.ts';

const FILE = new URL('./micro.yaml', import.meta.url).pathname;
let root: string;
let runsDir: string;
let copy: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'kdq-movable-'));
  runsDir = join(root, 'runs');
  const quiet = { log: () => undefined, progress: sink().stream, runsDir };
  await run(FILE, quiet);
  await sweep(FILE, { ...quiet, sweep: ['distillation.temperature=2,4'] });
  copy = join(root, 'artifact', 'runs');
  await cp(runsDir, copy, { recursive: true, filter: (src) => !src.includes(`${runsDir}/.`) });
}, 600_000);
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Every text file of the copied run folders and sweep summaries. */
async function texts(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    const p = join(e.parentPath, e.name);
    if (e.isFile() && /\.(json|yaml|md)$/.test(e.name)) out.set(p, await readFile(p, 'utf8'));
  }
  return out;
}

describe('a copied runs folder', () => {
  it('holds no path of the folder it was written in, nor of the cache', async () => {
    const files = await texts(copy);
    expect([...files.keys()].filter((p) => p.endsWith('stages.json'))).toHaveLength(3);
    for (const [p, text] of files) {
      expect(text, p).not.toContain(runsDir);
      expect(text, p).not.toMatch(/"outDir": "\//);
    }
    // config.yaml names its experiment file relative to the runs folder, where it still resolves.
    const config = [...files].find(([p]) => p.includes(`${join(copy, 'e2e-micro')}/`) && p.endsWith('config.yaml'))![1];
    const rel = /^# resolved from (.+) \(relative to the runs folder\)$/m.exec(config)![1]!;
    expect(resolve(runsDir, rel)).toBe(FILE);
    const summary = JSON.parse([...files].find(([p]) => p.endsWith('summary.json'))![1]) as { rows: { run: string }[] };
    for (const r of summary.rows) expect((await readdir(join(copy, r.run))).includes('metrics.json')).toBe(true);
  });

  it('lists the same runs with kdq runs, sweep points by their values', async () => {
    const here = await kdq('runs', '--runs-dir', runsDir, '--csv');
    const there = await kdq('runs', '--runs-dir', copy, '--csv');
    expect(there).toMatchObject({ code: 0, err: '' });
    expect(there.out).toBe(here.out);
    expect(there.out).toContain('e2e-micro-p2 [temperature=4]');
    expect(there.out.trim().split('\n')).toHaveLength(4);
  });

  it('compares with kdq diff, across the two places, as identical', async () => {
    const d = await kdq('diff', join(runsDir, 'e2e-micro', 'latest'), join(copy, 'e2e-micro', 'latest'));
    expect(d).toMatchObject({ code: 0 });
    expect(d.out).toContain('metrics: identical');
    expect(d.out).toContain('config: identical');
  });

  it('keeps kdq cache gc knowing, by key, which entries the run folders in place use', async () => {
    const gc = await kdq('cache', 'gc', '--runs-dir', runsDir);
    expect(gc.out).toMatch(/^removed 0 entries/);
  });
});
