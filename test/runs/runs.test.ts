/**
 * `kdq runs` through the CLI entry, on run folders written without training: one row per run, the
 * settings that differ, sweep points by their values, --sort, --where, the four formats, bad keys,
 * run folders read from where they were copied, and that listing loads no tf.js.
 */
import { execa } from 'execa';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kdqCli } from '../capture.ts';
import { twentyRuns, writeFakeRun } from './fixtures.ts';

let root: string;
let runsDir: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'kdq-runs-'));
  runsDir = join(root, 'runs');
  for (const r of twentyRuns()) await writeFakeRun(runsDir, r);
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const kdq = kdqCli;

const lines = (s: string) => s.trimEnd().split('\n');

describe('kdq runs', () => {
  it('lists every run, oldest first: key metrics in percent and points, and the one setting that differs', async () => {
    const r = await kdq('runs', '--runs-dir', runsDir);
    expect(r).toMatchObject({ code: 0, err: '' });
    const [head, ...rows] = lines(r.out);
    expect(head!.split(/ {2,}/)).toEqual(['experiment', 'run', 'started', 'wall', 'teacher_acc', 'student_acc', 'baseline_acc', 'int8_acc', 'kd_gain', 'int8_bytes', 'distillation.temperature']);
    expect(rows).toHaveLength(20);
    expect(rows[0]).toMatch(/^kd-a {2,}20261201-100000-0000 {2}2026-12-01 10:00 {2,}30\.0s {2,}98\.50% {2,}97\.00% {2,}96\.00% {2,}95\.00% {2,}-1\.00 pt {2,}181000 {2}1$/);
    // Sweep points carry their values, not only their -p name.
    expect(rows.at(-1)).toMatch(/^kd-a-p4 \[temperature=8\] {2,}20261201-/);
  });

  it('an experiment name lists its runs and its sweep points; a run id names one run', async () => {
    const a = await kdq('runs', 'kd-a', '--runs-dir', runsDir);
    expect(lines(a.out).slice(1).map((l) => l.split(' ')[0])).toEqual([...Array(5).fill('kd-a'), 'kd-a-p1', 'kd-a-p2', 'kd-a-p3', 'kd-a-p4']);
    const one = await kdq('runs', '20261201-100500-0005', '--runs-dir', runsDir);
    expect(lines(one.out)).toHaveLength(2);
    expect(one.out).toContain('kd-b');
    // A single run has nothing to differ from: no setting columns.
    expect(lines(one.out)[0]).not.toContain('distillation.temperature');
  });

  it('--sort KEY ascending, -KEY descending, by a column, a metrics.json or a config.yaml path', async () => {
    const desc = await kdq('runs', 'kd-b', '--runs-dir', runsDir, '--sort', '-int8_acc');
    expect(lines(desc.out).slice(1).map((l) => l.trim().split(/ +/).at(-1))).toEqual(['6', '5', '4', '3', '2', '1']);
    const asc = await kdq('runs', 'kd-b', '--runs-dir', runsDir, '--sort', 'models.student_int8.tflite.accuracy');
    expect(lines(asc.out).slice(1).map((l) => l.trim().split(/ +/).at(-1))).toEqual(['1', '2', '3', '4', '5', '6']);
    const byParam = await kdq('runs', '--runs-dir', runsDir, '--sort', '-distillation.temperature');
    expect(lines(byParam.out)[1]).toMatch(/^kd-a-p4 /);
  });

  it("--where filters in the --fail-on language over one run's values, text quoted; all expressions hold", async () => {
    const r = await kdq('runs', '--runs-dir', runsDir, '--where', "kd_gain > 0 and experiment != 'kd-c'", '--where', 'distillation.temperature <= 4');
    expect(r.code).toBe(0);
    const rows = lines(r.out).slice(1, -1);
    expect(rows.map((l) => l.split(' ')[0])).toEqual(['kd-a', 'kd-b', 'kd-a-p1', 'kd-a-p2']);
    expect(lines(r.out).at(-1)).toBe('4 of 20 runs match --where');
    const started = await kdq('runs', '--runs-dir', runsDir, '--where', "started >= '2026-12-01T10:17'");
    expect(lines(started.out).slice(1, -1)).toHaveLength(4);
  });

  it('a key no run has, delta(), or two formats are exit 2 with the fix', async () => {
    const typo = await kdq('runs', '--runs-dir', runsDir, '--where', 'int8_ac > 0.9');
    expect(typo.code).toBe(2);
    expect(typo.err).toContain("kdq: --where 'int8_ac > 0.9': no run listed has a value 'int8_ac'; did you mean 'int8_acc'?");
    const sort = await kdq('runs', '--runs-dir', runsDir, '--sort', 'tempreature');
    expect(sort.err).toContain("did you mean 'distillation.temperature'?");
    const delta = await kdq('runs', '--runs-dir', runsDir, '--where', 'delta(kd_gain) > 0');
    expect(delta.err).toContain('delta(...) compares two runs, and --where looks at one');
    const two = await kdq('runs', '--runs-dir', runsDir, '--md', '--csv');
    expect(two.code).toBe(2);
    const missing = await kdq('runs', 'kd-z', '--runs-dir', runsDir);
    expect(missing.code).toBe(2);
    expect(missing.err).toContain("'kd-z' is not a run folder, an experiment with runs under");
  });

  it('--md, --csv and --json: the same rows; CSV and JSON with values as stored', async () => {
    const md = await kdq('runs', 'kd-c', '--runs-dir', runsDir, '--md');
    expect(lines(md.out)[1]).toBe('| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
    expect(lines(md.out)).toHaveLength(7);
    const csv = await kdq('runs', 'kd-c', '--runs-dir', runsDir, '--csv');
    expect(lines(csv.out)[0]).toBe('label,experiment,run,started,wall,ref,teacher_acc,student_acc,baseline_acc,int8_acc,kd_gain,int8_bytes,distillation.temperature');
    expect(lines(csv.out)[1]).toBe('kd-c,kd-c,20261201-101100-000b,2026-12-01T10:11:00.000Z,30,kd-c/20261201-101100-000b,0.985,0.97,0.96,0.95,-0.01,181000,1');
    const json = JSON.parse((await kdq('runs', 'kd-a', '--runs-dir', runsDir, '--json')).out);
    expect(json.runs).toHaveLength(9);
    expect(json.runs[8]).toMatchObject({ experiment: 'kd-a-p4', label: 'kd-a-p4 [temperature=8]', sweep: { point: 'p4', params: { 'distillation.temperature': 8 } }, metrics: { int8_acc: 0.964 } });
  });

  it('reads a run folder copied elsewhere (a CI artifact) as it read it in place; kdq diff takes a run id', async () => {
    const away = join(root, 'artifact', 'kd-b-run');
    await mkdir(join(root, 'artifact'), { recursive: true });
    await cp(join(runsDir, 'kd-b', '20261201-100500-0005'), away, { recursive: true });
    const here = await kdq('runs', '20261201-100500-0005', '--runs-dir', runsDir, '--csv');
    const there = await kdq('runs', away, '--csv');
    const strip = (csv: string) => lines(csv)[1]!.split(',').filter((_, i) => i !== 2 && i !== 5); // run id and ref name the folder
    expect(there.code).toBe(0);
    expect(strip(there.out)).toEqual(strip(here.out));
    const diff = await kdq('diff', '20261201-100500-0005', away, '--runs-dir', runsDir);
    expect(diff).toMatchObject({ code: 0 });
    expect(diff.out).toContain('metrics: identical');
  });

  it('skips a damaged run folder with a warning and lists the others', async () => {
    const bad = join(root, 'damaged');
    await writeFakeRun(bad, { name: 'kd-x', id: '20261202-000000-0000' });
    await writeFakeRun(bad, { name: 'kd-x', id: '20261202-000100-0001' });
    await writeFile(join(bad, 'kd-x', '20261202-000000-0000', 'metrics.json'), '{"experiment": ');
    const r = await kdq('runs', '--runs-dir', bad);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/^warning: skipped .*20261202-000000-0000: .*metrics\.json is not readable JSON/);
    expect(lines(r.out)).toHaveLength(2);
  });

  it('loads no tf.js, no TFLite or ONNX runtime (a child process lists the runs and reports its modules)', { timeout: 60_000 }, async () => {
    const script = `
      import { createRequire } from 'node:module';
      const { main } = await import(${JSON.stringify(new URL('../../src/cli.ts', import.meta.url).pathname)});
      let out = '';
      const code = await main(['runs', '--runs-dir', ${JSON.stringify(runsDir)}], { stdout: { write: (s) => (out += s, true) }, stderr: process.stderr });
      const loaded = Object.keys(createRequire(import.meta.url).cache).filter((p) => /@tensorflow|@litertjs|onnxruntime|sharp/.test(p));
      console.log(JSON.stringify({ code, rows: out.trim().split('\\n').length, tfengine: typeof globalThis._tfengine, loaded }));
    `;
    const file = join(root, 'probe.mjs');
    await writeFile(file, script);
    const r = await execa(process.execPath, ['--import', 'tsx', file], { cwd: new URL('../..', import.meta.url).pathname, reject: false });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ code: 0, rows: 21, tfengine: 'undefined', loaded: [] });
  });

  it('says so when there are no runs', async () => {
    const r = await kdq('runs', '--runs-dir', join(root, 'none'));
    expect(r).toMatchObject({ code: 0, out: `no runs under ${join(root, 'none')}\n` });
    expect(JSON.parse((await kdq('runs', '--runs-dir', join(root, 'none'), '--json')).out).runs).toEqual([]);
  });
});

describe('kdq runs rm', () => {
  let dir: string;
  let cacheDir: string;
  const K = (c: string) => c.repeat(64);
  beforeAll(async () => {
    dir = join(root, 'rm', 'runs');
    cacheDir = join(dir, '.cache');
    await writeFakeRun(dir, { name: 'kd', id: '20261203-000000-0000', keys: [K('a'), K('b')] });
    await writeFakeRun(dir, { name: 'kd', id: '20261203-000100-0001', keys: [K('a'), K('c')] });
    await writeFakeRun(dir, { name: 'kd', id: '20261203-000200-0002', keys: [K('a'), K('d')] });
    await writeFakeRun(dir, { name: 'other', id: '20261203-000300-0003', keys: [K('e')] });
    for (const k of [K('a'), K('b'), K('c'), K('d'), K('e')]) {
      await mkdir(join(cacheDir, k.slice(0, 2), k), { recursive: true });
      await writeFile(join(cacheDir, k.slice(0, 2), k, 'out.bin'), Buffer.alloc(1000));
    }
  });

  it('needs runs to remove; --dry-run lists them and removes nothing', async () => {
    const none = await kdq('runs', 'rm', '--runs-dir', dir);
    expect(none.code).toBe(2);
    expect(none.err).toContain("'kdq runs rm' needs the runs to remove");
    const dry = await kdq('runs', 'rm', '20261203-000200-0002', '--runs-dir', dir, '--dry-run');
    expect(dry.code).toBe(0);
    expect(dry.out).toMatch(/^would remove 1 run folder \(.*\):\n {2}kd\/20261203-000200-0002 /);
    expect(dry.out).toContain("cache entries are kept: 1 of them (1000 B) no remaining run folder uses; 'kdq cache gc' frees them");
    expect(await readFile(join(dir, 'kd', '20261203-000200-0002', 'metrics.json'), 'utf8')).toContain('kd');
  });

  it('removes run folders, moves latest to the newest remaining run, and leaves every cache entry', async () => {
    const r = await kdq('runs', 'rm', '20261203-000200-0002', '--runs-dir', dir);
    expect(r.code).toBe(0);
    const { readlink, readdir } = await import('node:fs/promises');
    expect((await readdir(join(dir, 'kd'))).sort()).toEqual(['20261203-000000-0000', '20261203-000100-0001', 'latest']);
    expect(await readlink(join(dir, 'kd', 'latest'))).toBe('20261203-000100-0001');
    expect((await readdir(join(cacheDir, 'dd'))).length).toBe(1); // kept for gc to decide
    // The remaining runs still use 'a': removing by --where counts only what nothing else uses.
    const w = await kdq('runs', 'rm', 'kd', '--runs-dir', dir, '--where', "run == '20261203-000000-0000'");
    expect(w.out).toContain('removed 1 run folder');
    expect(w.out).toContain('1 of them (1000 B)'); // b; a is still used by 000100
  });

  it("removing an experiment's last run removes its latest and its folder", async () => {
    const r = await kdq('runs', 'rm', 'other', '--runs-dir', dir);
    expect(r.code).toBe(0);
    const { readdir } = await import('node:fs/promises');
    expect((await readdir(dir)).sort()).toEqual(['.cache', 'kd']);
    expect((await kdq('runs', 'rm', 'kd', '--runs-dir', dir, '--sort', 'wall')).code).toBe(2);
  });
});
