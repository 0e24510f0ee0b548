/**
 * kdq diff: the comparison, the --fail-on grammar and its errors, the three output forms, and
 * the CLI's exit codes (0 identical or within thresholds, 1 a threshold crossed, 2 bad input),
 * on tiny synthetic run folders.
 */
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli.ts';
import { compareConfig, compareMetrics, diffRuns, type RunData } from '../../src/report/diff.ts';
import { flatten } from '../../src/report/metric-values.ts';
import { sampleMetrics, writeRunFolder } from './fixtures.ts';

const run = (label: string, int8 = 0.965, temperature = 4): RunData => ({
  label,
  metrics: JSON.parse(JSON.stringify(sampleMetrics({ int8 }))),
  config: { name: 'kd-sample', distillation: { temperature, alpha: 0.9 } },
});

describe('comparison', () => {
  it('flattens to dotted paths, arrays by index', () => {
    expect([...flatten({ b: { c: [1, null] }, a: 'x', e: [] })]).toEqual([
      ['a', 'x'],
      ['b.c.0', 1],
      ['b.c.1', null],
      ['e', '[]'],
    ]);
  });

  it('lists added, removed and changed metrics with a delta rounded like metrics.json', () => {
    const rows = compareMetrics({ a: 0.1, b: 0.3, gone: 1, s: 'x' }, { a: 0.3, b: 0.3, s: 'y', added: 2 });
    expect(rows).toEqual([
      { path: 'a', old: 0.1, new: 0.3, delta: 0.2, changed: true },
      { path: 'added', new: 2, delta: null, changed: true },
      { path: 'b', old: 0.3, new: 0.3, delta: 0, changed: false },
      { path: 'gone', old: 1, delta: null, changed: true },
      { path: 's', old: 'x', new: 'y', delta: null, changed: true },
    ]);
  });

  it('does not list confusion-matrix cells (the accuracies that move with them are listed)', () => {
    const rows = compareMetrics(sampleMetrics({ int8: 0.965 }), sampleMetrics({ int8: 0.955 }));
    expect(rows.some((r) => r.path.includes('confusion_matrix'))).toBe(false);
    // Nor training curves, point by point.
    const curve = (l: number) => ({ curves: { teacher: [{ epoch: 1, loss: l, accuracy: 0.5 }] }, a: l });
    expect(compareMetrics(curve(1), curve(2)).map((r) => r.path)).toEqual(['a']);
    expect(rows.filter((r) => r.changed).map((r) => r.path)).toContain('models.student_int8.tflite.accuracy');
  });

  it('lists config keys that differ, with JSON values', () => {
    expect(compareConfig({ d: { t: 4, a: 0.9 }, l: [1, 2] }, { d: { t: 2, a: 0.9 }, l: [1], n: 'x' })).toEqual([
      { key: 'd.t', old: '4', new: '2' },
      { key: 'l.1', old: '2' },
      { key: 'n', new: '"x"' },
    ]);
  });

  it('two runs of the same results diff as identical', () => {
    const d = diffRuns(run('a'), run('b'));
    expect(d).toMatchObject({ identical: true, metrics: [], config: [], gates: [] });
    expect(d.compared).toBeGreaterThan(50);
    expect(diffRuns(run('a'), run('b'), { all: true }).metrics).toHaveLength(d.compared);
  });

  it('says when a folder has no config.yaml', () => {
    const d = diffRuns(run('a'), { ...run('b'), config: undefined });
    expect(d.configNote).toBe('config not compared: no config.yaml in b');
  });
});

describe('kdq diff (CLI)', () => {
  let root: string;
  let a: string;
  let b: string;
  let worse: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'kdq-diff-'));
    a = await writeRunFolder(join(root, 'kd-sample', 'run-a'), sampleMetrics());
    b = await writeRunFolder(join(root, 'kd-sample', 'run-b'), sampleMetrics());
    worse = await writeRunFolder(join(root, 'kd-sample', 'run-c'), sampleMetrics({ int8: 0.95 }), {
      name: 'kd-sample',
      distillation: { temperature: 2, alpha: 0.9 },
    });
    await symlink('run-c', join(root, 'kd-sample', 'latest'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  const cli = async (...argv: string[]) => {
    let out = '';
    let err = '';
    const sink = (f: (s: string) => void) => new Writable({ write: (c, _e, cb) => (f(String(c)), cb()) });
    const code = await main(argv, { stdout: sink((s) => (out += s)), stderr: sink((s) => (err += s)) });
    return { code, out, err };
  };

  it('exits 0 on identical runs', async () => {
    const r = await cli('diff', a, b);
    expect(r).toMatchObject({ code: 0, err: '' });
    expect(r.out).toContain('metrics: identical');
    expect(r.out).toContain('config: identical');
  });

  it('exits 0 when no gate is crossed and 1 when one is, naming it on stderr', async () => {
    const ok = await cli('diff', a, worse, '--fail-on', 'models.student_int8.tflite.accuracy < -0.05');
    expect(ok.code).toBe(0);
    expect(ok.out).toContain('ok   models.student_int8.tflite.accuracy < -0.05');
    const bad = await cli('diff', a, worse, '--fail-on', 'models.teacher.accuracy < 0', '--fail-on', 'models.student_int8.tflite.accuracy < -0.005');
    expect(bad.code).toBe(1);
    expect(bad.err).toBe("kdq: regression gate crossed: 'models.student_int8.tflite.accuracy < -0.005'\n");
    expect(bad.out).toMatch(/models\.student_int8\.tflite\.accuracy +96\.50% {2}95\.00% {2}-1\.50 pt/);
  });

  it('--only GLOB picks the listed paths (repeatable); one matching nothing is exit 2', async () => {
    const r = await cli('diff', a, worse, '--only', '**.runtimes.litert.accuracy', '--only', 'models.*.tflite.bytes', '--all');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^models\.student_int8\.tflite\.runtimes\.litert\.accuracy +96\.50% +95\.00% +-1\.50 pt$/m);
    expect(r.out).toMatch(/^models\.teacher\.tflite\.bytes +2777000 +2777000 +0$/m);
    const bad = await cli('diff', a, worse, '--only', 'modles.**');
    expect(bad.code).toBe(2);
    expect(bad.err).toContain("kdq: --only 'modles.**' matches no metric of either run");
  });

  it('resolves an experiment name to <runs-dir>/<name>/latest, and prints --md and --json', async () => {
    const md = await cli('diff', a, 'kd-sample', '--runs-dir', root, '--md');
    expect(md.code).toBe(0);
    expect(md.out).toContain('| `distillation.temperature` | 4 | 2 |');
    const json = await cli('diff', join(a, 'metrics.json'), 'kd-sample', '--runs-dir', root, '--json', '--all');
    const j = JSON.parse(json.out);
    expect(j.metrics.length).toBe(j.compared);
    expect(j.metrics.find((r: { path: string }) => r.path === 'models.student_int8.tflite.accuracy')).toEqual({
      path: 'models.student_int8.tflite.accuracy',
      old: 0.965,
      new: 0.95,
      delta: -0.015,
      changed: true,
    });
  });

  it('exits 2 on a bad expression, a missing run, a folder that is not a run, or two formats', async () => {
    const expr = await cli('diff', a, b, '--fail-on', 'models.student.accuracy =< 0');
    expect(expr.code).toBe(2);
    expect(expr.err).toContain("kdq: --fail-on 'models.student.accuracy =< 0': '=' alone is not a comparison");
    expect(expr.out).toBe('');
    const missing = await cli('diff', a, 'no-such-experiment', '--runs-dir', root);
    expect(missing.code).toBe(2);
    expect(missing.err).toContain(
      `'no-such-experiment' is neither a path nor an experiment with a run: ${join(root, 'no-such-experiment', 'latest', 'metrics.json')} does not exist`,
    );
    await mkdir(join(root, 'empty'));
    const empty = await cli('diff', a, join(root, 'empty'));
    expect(empty.code).toBe(2);
    expect(empty.err).toContain('is a folder without metrics.json, so not a run folder');
    await writeFile(join(root, 'broken.json'), '{"experiment": ');
    const broken = await cli('diff', a, join(root, 'broken.json'));
    expect(broken.code).toBe(2);
    expect(broken.err).toMatch(/broken\.json is not readable JSON .*; rerun the experiment/);
    const both = await cli('diff', a, b, '--md', '--json');
    expect(both.code).toBe(2);
    expect(both.err).toContain('pass --md or --json, not both');
    for (const r of [expr, missing, empty, broken, both]) expect(r.err).not.toMatch(/\n\s+at /);
  });
});
