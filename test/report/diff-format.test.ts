/** kdq diff's three output forms. */
import { describe, expect, it } from 'vitest';
import { diffRuns, type RunData } from '../../src/report/diff.ts';
import { formatDiffJson, formatDiffMd, formatDiffText } from '../../src/report/diff-format.ts';
import type { Metrics } from '../../src/report/metrics.ts';
import { formatSummary } from '../../src/report/summary.ts';
import { sampleMetrics } from './fixtures.ts';

const run = (label: string, int8 = 0.965, temperature = 4): RunData => ({
  label,
  metrics: JSON.parse(JSON.stringify(sampleMetrics({ int8 }))),
  config: { name: 'kd-sample', distillation: { temperature, alpha: 0.9 } },
});

describe('output forms', () => {
  const d = diffRuns(run('runs/x/1', 0.965, 4), run('runs/x/2', 0.955, 2), { failOn: ['models.student_int8.tflite.accuracy < -0.005', 'kd_gain < 0'] });

  it('text: the headline metrics that changed in percent and points, a line for the others, config keys, one line per gate', () => {
    expect(formatDiffText(d)).toBe(
      [
        'old: runs/x/1',
        'new: runs/x/2',
        'Metric                               Old     New     Change',
        'models.student_int8.tflite.accuracy  96.50%  95.50%  -1.00 pt',
        '12 other metrics changed (per-class accuracies, agreements, runtimes): --all lists every metric, --only GLOB picks paths',
        '',
        'Config key                Old  New',
        'distillation.temperature  4    2',
        '',
        'FAIL models.student_int8.tflite.accuracy < -0.005: delta(models.student_int8.tflite.accuracy) = -0.01 (-1.00 pt)',
        'ok   kd_gain < 0: delta(kd_gain) = 0 (+0.00 pt)',
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
        '| `models.student_int8.tflite.accuracy` | 96.50% | 95.50% | -1.00 pt |',
        '',
        '12 other metrics changed (per-class accuracies, agreements, runtimes): `--all` lists every metric, `--only GLOB` picks paths',
        '',
        '| Config key | Old | New |',
        '| --- | --- | --- |',
        '| `distillation.temperature` | 4 | 2 |',
        '',
        '- **FAIL** `models.student_int8.tflite.accuracy < -0.005`: delta(models.student_int8.tflite.accuracy) = -0.01 (-1.00 pt)',
        '- ok `kd_gain < 0`: delta(kd_gain) = 0 (+0.00 pt)',
        '',
      ].join('\n'),
    );
  });

  it('--json: the comparison as data, values as in metrics.json', () => {
    const j = JSON.parse(formatDiffJson(d));
    expect(j).toMatchObject({ old: 'runs/x/1', new: 'runs/x/2', identical: false, selection: 'headline', hidden: 12 });
    expect(j.metrics).toEqual([{ path: 'models.student_int8.tflite.accuracy', old: 0.965, new: 0.955, delta: -0.01, changed: true }]);
    expect(j.config).toEqual([{ key: 'distillation.temperature', old: '4', new: '2' }]);
    expect(j.gates.map((g: { crossed: boolean }) => g.crossed)).toEqual([true, false]);
  });

  it('--only GLOB lists the matching paths; --all every metric; a glob that matches nothing is an error with a suggestion', () => {
    const only = diffRuns(run('a', 0.965), run('b', 0.955), { only: ['models.student_int8.tflite.runtimes.*.accuracy'] });
    expect(only.metrics.map((r) => r.path)).toEqual([
      'models.student_int8.tflite.runtimes.litert.accuracy',
      'models.student_int8.tflite.runtimes.tfjs-tflite.accuracy',
    ]);
    expect(only.hidden).toBe(11);
    const perClass = diffRuns(run('a', 0.965), run('b', 0.955), { only: ['**.per_class_accuracy.*'] });
    expect(perClass.metrics).toHaveLength(10);
    const every = diffRuns(run('a', 0.965), run('b', 0.955), { all: true });
    expect(every).toMatchObject({ selection: 'all', hidden: 0 });
    expect(every.metrics).toHaveLength(every.compared);
    expect(() => diffRuns(run('a'), run('b'), { only: ['models.student_int9.**'] })).toThrow(
      /--only 'models.student_int9.\*\*' matches no metric of either run/,
    );
  });

  it('prints accuracies as percentages and their changes in points, so the KD gain reads as in the run summary', () => {
    const a = run('a');
    const b = run('b');
    (a.metrics as Metrics).kd_gain = 0.01;
    (b.metrics as Metrics).kd_gain = -0.026;
    const text = formatDiffText(diffRuns(a, b));
    expect(text).toMatch(/^kd_gain +\+1\.00 pt +-2\.60 pt +-3\.60 pt$/m);
    expect(formatSummary(b.metrics as Metrics, 'runs/x/2')).toContain('KD gain (student - baseline): -2.60 points');
  });

  it('shortens hashes in the tables and keeps them whole in --json', () => {
    const a = run('a');
    const b = run('b');
    (b.metrics as Metrics).data.sha256 = 'b'.repeat(64);
    b.config = { ...(b.config as object), teacher: { sha256: 'c'.repeat(64) } };
    const dd = diffRuns(a, b);
    const text = formatDiffText(dd);
    expect(text).toMatch(/^data\.sha256 +aaaaaaaaaaaa… +bbbbbbbbbbbb… +changed$/m);
    expect(text).toMatch(/^teacher\.sha256 +- +"cccccccccccc…"$/m);
    expect(text).not.toContain('a'.repeat(13));
    expect(formatDiffMd(dd)).not.toContain('b'.repeat(13));
    expect(formatDiffJson(dd)).toContain('b'.repeat(64));
  });
});

describe('the diff of one temperature change', () => {
  // Everything the distilled student feeds moves: its accuracies, per class too, its files'
  // agreements, the int8 student's, the runtimes' numbers and the KD gain. The teacher and the
  // baseline do not.
  const moved = (m: Metrics): Metrics => {
    const s = m.models.student!;
    s.accuracy = 0.955;
    s.per_class_accuracy = s.per_class_accuracy!.map((v) => (v === null ? null : Number((v - 0.013).toFixed(6))));
    s.tflite!.accuracy = 0.955;
    s.tflite!.agreement_with_teacher = 0.961;
    m.models.student_int8!.tflite!.agreement_with_student = 0.985;
    m.kd_gain = -0.005;
    return m;
  };
  const a: RunData = {
    label: 'runs/kd-sample/20261128-001630-6992',
    metrics: sampleMetrics({ int8: 0.965 }),
    config: { name: 'kd-sample', distillation: { temperature: 4 } },
  };
  const b: RunData = { label: 'kd-sample', metrics: moved(sampleMetrics({ int8: 0.951 })), config: { name: 'kd-sample', distillation: { temperature: 2 } } };

  it('prints at most 12 lines by default, and every changed metric with --all', () => {
    const text = formatDiffText(diffRuns(a, b));
    expect(text.split('\n').length, text).toBeLessThanOrEqual(12);
    for (const p of [
      'kd_gain',
      'models.student.accuracy',
      'models.student.tflite.accuracy',
      'models.student_int8.tflite.accuracy',
      'models.student_int8.tflite.agreement_with_student',
    ]) {
      expect(text).toMatch(new RegExp(`^${p.replace(/\./g, '\\.')} `, 'm'));
    }
    expect(text).toContain('distillation.temperature  4    2');
    expect(formatDiffText(diffRuns(a, b, { all: true })).split('\n').length).toBeGreaterThan(40);
  });
});
