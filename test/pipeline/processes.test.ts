/**
 * The walker across processes: a run killed with SIGKILL mid-stage leaves nothing that a rerun
 * trusts, and two processes sharing a cache compute each key once.
 */
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Cache } from '../../src/pipeline/cache.ts';
import { MANIFEST_FILE } from '../../src/pipeline/manifest.ts';
import { planExperiment } from '../../src/stages/plan.ts';
import { runGraph } from '../../src/pipeline/run.ts';
import { experiment } from './fixtures/experiment.ts';
import { toyDefs } from './fixtures/toy-defs.ts';

const SCRIPT = fileURLToPath(new URL('./fixtures/toy-run.ts', import.meta.url));
const env = { backend: 'cpu', tfjs: '4.22.0' };
let root: string;
const children: ResultPromise[] = [];

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'kdq-proc-'));
});
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
  await rm(root, { recursive: true, force: true });
});

interface Line {
  type: string;
  id?: string;
  pid?: number;
  outDir?: string;
  stages?: { id: string; key: string; status: string; reason: string }[];
}

/** Starts the fixture; `lines` fills with its JSON lines, `until` resolves at the first matching one. */
function spawnToy(args: string[]) {
  const child = execa(process.execPath, ['--import', 'tsx', SCRIPT, ...args], {
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
    reject: false,
    timeout: 90_000,
  });
  children.push(child);
  const lines: Line[] = [];
  const waiters: { pred: (l: Line) => boolean; resolve: (l: Line) => void }[] = [];
  let buf = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    buf += chunk.toString();
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = JSON.parse(buf.slice(0, nl)) as Line;
      buf = buf.slice(nl + 1);
      lines.push(line);
      for (const w of waiters.splice(0)) {
        if (w.pred(line)) w.resolve(line);
        else waiters.push(w);
      }
    }
  });
  const until = (pred: (l: Line) => boolean) =>
    new Promise<Line>((resolve, reject) => {
      const seen = lines.find(pred);
      if (seen) return resolve(seen);
      waiters.push({ pred, resolve });
      child.then((r) => reject(new Error(`fixture exited (${r.exitCode}) before the expected line; stderr:\n${r.stderr}`)));
    });
  return { child, lines, until };
}

/** Every committed entry of a cache: key -> (file -> sha256), from the manifests. */
async function entries(cacheDir: string): Promise<Record<string, Record<string, string>>> {
  const out: Record<string, Record<string, string>> = {};
  for (const e of await new Cache(cacheDir).list()) {
    const m = JSON.parse(await readFile(join(e.dir, MANIFEST_FILE), 'utf8'));
    out[e.key] = Object.fromEntries(Object.entries(m.files as Record<string, { sha256: string }>).map(([f, v]) => [f, v.sha256]));
  }
  return out;
}

describe('pipeline across processes', () => {
  it('a run killed with SIGKILL mid-stage is finished by a rerun exactly as an uninterrupted run', async () => {
    const cacheDir = join(root, 'cache');
    const count = join(root, 'count.txt');
    const a = spawnToy([cacheDir, count, join(root, 'never')]);
    const slow = await a.until((l) => l.type === 'slow-started');
    // Mid-stage: half an output in a tmp folder and the key's lock held.
    expect(await readdir(slow.outDir as string)).toEqual(['half-written.bin']);
    expect((await readdir(join(cacheDir, 'locks'))).length).toBe(1);
    a.child.kill('SIGKILL');
    const r = await a.child;
    expect(r.signal).toBe('SIGKILL');
    expect(await readFile(count, 'utf8')).toBe('data\nteacher@s1\n');

    // Rerun (no slowness: same keys) on the same cache. The dead run's lock and tmp folder are not obstacles.
    const calls: string[] = [];
    const warnings: string[] = [];
    const rerun = await runGraph(planExperiment(experiment()), toyDefs({ calls }), {
      cache: new Cache(cacheDir, { onWarn: (w) => warnings.push(w) }),
      env,
      lock: { timeoutMs: 10_000 },
    });
    expect(calls[0]).toBe('teacher@s1'); // data was committed before the kill
    expect(rerun.stages[0].status).toBe('cached');
    expect(warnings).toEqual([]);
    await expect(stat(slow.outDir as string)).rejects.toThrow(/ENOENT/);
    expect(await readdir(join(cacheDir, 'tmp'))).toEqual([]);
    expect(await readdir(join(cacheDir, 'locks'))).toEqual([]);

    // An uninterrupted run in a fresh cache commits the very same entries, byte for byte.
    const clean = await runGraph(planExperiment(experiment()), toyDefs(), { cache: new Cache(join(root, 'clean')), env });
    expect(rerun.stages.map((s) => s.key)).toEqual(clean.stages.map((s) => s.key));
    const got = await entries(cacheDir);
    expect(Object.keys(got)).toHaveLength(13); // every stage but the report
    expect(got).toEqual(await entries(join(root, 'clean')));
    expect(Object.values(got).some((files) => 'half-written.bin' in files)).toBe(false);
  });

  it("two processes on one cache compute each key once; the waiter gets the other one's entry", async () => {
    const cacheDir = join(root, 'cache');
    const count = join(root, 'count.txt');
    const release = join(root, 'release');
    const p1 = spawnToy([cacheDir, count, release]);
    const p2 = spawnToy([cacheDir, count, release]);
    // One of them holds teacher@s1 (stalled until released); the other must be waiting for its lock.
    const slow = await Promise.race([p1.until((l) => l.type === 'slow-started'), p2.until((l) => l.type === 'slow-started')]);
    const [holder, waiter] = slow.pid === p1.child.pid ? [p1, p2] : [p2, p1];
    await waiter.until((l) => l.type === 'wait' && l.id === 'teacher@s1');
    await writeFile(release, '');
    const [r1, r2] = await Promise.all([p1.child, p2.child]);
    expect([r1.exitCode, r2.exitCode]).toEqual([0, 0]);

    const lines = (await readFile(count, 'utf8')).trim().split('\n');
    const times = (id: string) => lines.filter((l) => l === id).length;
    for (const id of Object.keys(planExperiment(experiment()).stages)) expect(times(id), id).toBe(id === 'report' ? 2 : 1);

    const result = (p: typeof p1) => (p.lines.find((l) => l.type === 'result')?.stages ?? []).find((s) => s.id === 'teacher@s1');
    expect(result(holder)?.status).toBe('ran');
    expect(result(waiter)).toMatchObject({
      status: 'cached',
      reason: 'computed by another process while this one waited for the lock',
      key: result(holder)?.key,
    });
    expect(await readdir(join(cacheDir, 'tmp'))).toEqual([]);
    expect(await readdir(join(cacheDir, 'locks'))).toEqual([]);
  });
});
