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
import { KdqError } from '../../src/errors.ts';
import {
  compareConfig,
  compareMetrics,
  diffRuns,
  evaluateCondition,
  flatten,
  formatDiffJson,
  formatDiffMd,
  formatDiffText,
  parseCondition,
  type RunData,
} from '../../src/report/diff.ts';
import { sampleMetrics, writeRunFolder } from './fixtures.ts';

const run = (label: string, int8 = 0.965, temperature = 4): RunData => ({
  label,
  metrics: JSON.parse(JSON.stringify(sampleMetrics({ int8 }))),
  config: { name: 'kd-sample', distillation: { temperature, alpha: 0.9 } },
});
const values = (a: RunData, b: RunData) => ({ old: flatten(a.metrics), new: flatten(b.metrics) });

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

describe('--fail-on expressions', () => {
  it('parses a bare path as the delta, functions, negative numbers, and/or with precedence', () => {
    expect(parseCondition('models.student_int8.tflite.accuracy < -0.005')).toEqual({
      kind: 'compare',
      op: '<',
      left: { kind: 'metric', of: 'delta', path: 'models.student_int8.tflite.accuracy' },
      right: { kind: 'neg', arg: { kind: 'number', value: 0.005 } },
    });
    const c = parseCondition('a < 1 or b > 2 and new(c) >= 3e-2');
    expect(c.kind).toBe('or');
    expect(c.kind === 'or' && c.right.kind).toBe('and');
    expect(parseCondition('(a < 1 || b > 2) && abs(old(c)) != .5')).toMatchObject({ kind: 'and', left: { kind: 'or' }, right: { op: '!=' } });
    // A hyphen belongs to a role name such as student_dynamic-range.
    expect(parseCondition('models.student_dynamic-range.tflite.accuracy<=0')).toMatchObject({ left: { path: 'models.student_dynamic-range.tflite.accuracy' } });
  });

  const bad: [string, RegExp][] = [
    ['', /the expression is empty/],
    ['models.student.accuracy = 1', /'=' alone is not a comparison \(use == to test equality\) at column 25/],
    ['models.student.accuracy <', /expected a number or a metric path, found the end of the expression at column 26/],
    ['models.student.accuracy', /expected a comparison \(< <= > >= == !=\), found the end of the expression/],
    ['a < 1 b', /unexpected 'b' after a complete condition \(join conditions with 'and' or 'or'\) at column 7/],
    ['(a < 1', /expected '\)', found the end of the expression/],
    ['old(3) < 1', /expected a metric path inside old\(\.\.\.\), found '3' at column 5/],
    ['process.exit(1) < 1', /expected a comparison .* found '\('/],
    ['require("fs") < 1', /unexpected character '"' at column 9/],
    ['a < 1; rm -rf /', /unexpected character ';'/],
    ['a < 1 and', /found the end of the expression/],
  ];
  it.each(bad)('%j is a usage error that quotes it and shows an example', (text, why) => {
    let err: unknown;
    try {
      parseCondition(text);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KdqError);
    const e = err as KdqError;
    expect([e.code, e.exitCode]).toEqual(['E_USAGE', 2]);
    expect(e.message).toMatch(why);
    expect(e.message).toContain(`--fail-on '${text}'`);
    expect(e.message).toContain("e.g. --fail-on 'models.student_int8.tflite.accuracy < -0.005'");
  });

  it('rejects unknown and non-numeric metrics with a suggestion', () => {
    expect(() => diffRuns(run('a'), run('b'), { failOn: ['models.student_int8.tflite.acuracy < 0'] })).toThrow(
      /no metric 'models.student_int8.tflite.acuracy' in either run; did you mean 'models.student_int8.tflite.accuracy'\?/,
    );
    expect(() => diffRuns(run('a'), run('b'), { failOn: ['backend.name < 0'] })).toThrow(/metric 'backend.name' is "wasm", not a number/);
  });

  it('evaluates deltas, old and new values, abs, and/or', () => {
    const v = values(run('a', 0.965), run('b', 0.955));
    const check = (s: string) => evaluateCondition(parseCondition(s), v);
    expect(check('models.student_int8.tflite.accuracy < -0.005')).toEqual({
      crossed: true,
      detail: 'delta(models.student_int8.tflite.accuracy) = -0.01',
    });
    expect(check('models.student_int8.tflite.accuracy < -0.02').crossed).toBe(false);
    expect(check('new(models.student_int8.tflite.accuracy) < 0.96').crossed).toBe(true);
    expect(check('old(models.student_int8.tflite.accuracy) < 0.96').crossed).toBe(false);
    expect(check('abs(models.student_int8.tflite.accuracy) > 0.005').crossed).toBe(true);
    expect(check('models.teacher.accuracy != 0 or models.student.accuracy != 0').crossed).toBe(false);
    expect(check('models.student_int8.tflite.accuracy < 0 and models.teacher.accuracy < 0').crossed).toBe(false);
    expect(check('-models.student_int8.tflite.accuracy > 0.005').crossed).toBe(true);
  });

  it('a metric missing from one run crosses the gate and says why', () => {
    const b = run('b');
    delete (b.metrics as { kd_gain?: number }).kd_gain;
    const r = diffRuns(run('a'), b, { failOn: ['kd_gain < -0.01'] });
    expect(r.gates).toEqual([{ expression: 'kd_gain < -0.01', crossed: true, detail: 'cannot check: kd_gain is missing in the new run' }]);
  });
});

describe('output forms', () => {
  const d = diffRuns(run('runs/x/1', 0.965, 4), run('runs/x/2', 0.955, 2), { failOn: ['models.student_int8.tflite.accuracy < -0.005', 'kd_gain < 0'] });
  d.metrics = d.metrics.filter((r) => !r.path.includes('per_class'));

  it('text: aligned columns, config keys, one line per gate', () => {
    expect(formatDiffText(d)).toBe(
      [
        'old: runs/x/1',
        'new: runs/x/2',
        '',
        'Metric                               Old    New    Change',
        'models.student_int8.tflite.accuracy  0.965  0.955  -0.01',
        '',
        'Config key                Old  New',
        'distillation.temperature  4    2',
        '',
        'FAIL models.student_int8.tflite.accuracy < -0.005: delta(models.student_int8.tflite.accuracy) = -0.01',
        'ok   kd_gain < 0: delta(kd_gain) = 0',
      ].join('\n'),
    );
    expect(formatDiffText(diffRuns(run('a'), run('b')))).toBe(`old: a\nnew: b\n\nmetrics: identical (${d.compared} compared)\n\nconfig: identical`);
  });

  it('--md: GitHub tables and a gate list', () => {
    expect(formatDiffMd(d)).toBe(
      [
        'Comparing `runs/x/1` (old) with `runs/x/2` (new).',
        '',
        '| Metric | Old | New | Change |',
        '| --- | ---: | ---: | ---: |',
        '| `models.student_int8.tflite.accuracy` | 0.965 | 0.955 | -0.01 |',
        '',
        '| Config key | Old | New |',
        '| --- | --- | --- |',
        '| `distillation.temperature` | 4 | 2 |',
        '',
        '- **FAIL** `models.student_int8.tflite.accuracy < -0.005`: delta(models.student_int8.tflite.accuracy) = -0.01',
        '- ok `kd_gain < 0`: delta(kd_gain) = 0',
        '',
      ].join('\n'),
    );
  });

  it('--json: the whole comparison as data', () => {
    const j = JSON.parse(formatDiffJson(d));
    expect(j).toMatchObject({ old: 'runs/x/1', new: 'runs/x/2', identical: false });
    expect(j.metrics).toEqual([{ path: 'models.student_int8.tflite.accuracy', old: 0.965, new: 0.955, delta: -0.01, changed: true }]);
    expect(j.config).toEqual([{ key: 'distillation.temperature', old: '4', new: '2' }]);
    expect(j.gates.map((g: { crossed: boolean }) => g.crossed)).toEqual([true, false]);
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
    worse = await writeRunFolder(join(root, 'kd-sample', 'run-c'), sampleMetrics({ int8: 0.95 }), { name: 'kd-sample', distillation: { temperature: 2, alpha: 0.9 } });
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
    expect(bad.out).toContain('models.student_int8.tflite.accuracy              0.965  0.95   -0.015');
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
    expect(missing.err).toContain(`'no-such-experiment' is neither a path nor an experiment with a run: ${join(root, 'no-such-experiment', 'latest', 'metrics.json')} does not exist`);
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
