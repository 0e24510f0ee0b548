/** kdq diff's three output forms. */
import { describe, expect, it } from 'vitest';
import { diffRuns, type RunData } from '../../src/report/diff.ts';
import { formatDiffJson, formatDiffMd, formatDiffText } from '../../src/report/diff-format.ts';
import { sampleMetrics } from './fixtures.ts';

const run = (label: string, int8 = 0.965, temperature = 4): RunData => ({
  label,
  metrics: JSON.parse(JSON.stringify(sampleMetrics({ int8 }))),
  config: { name: 'kd-sample', distillation: { temperature, alpha: 0.9 } },
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
        // Each runtime's accuracy is a metric too: the primary one (litert) repeats `accuracy`.
        'Metric                                                    Old    New    Change',
        'models.student_int8.tflite.accuracy                       0.965  0.955  -0.01',
        'models.student_int8.tflite.runtimes.litert.accuracy       0.965  0.955  -0.01',
        'models.student_int8.tflite.runtimes.tfjs-tflite.accuracy  0.965  0.955  -0.01',
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
        '| `models.student_int8.tflite.runtimes.litert.accuracy` | 0.965 | 0.955 | -0.01 |',
        '| `models.student_int8.tflite.runtimes.tfjs-tflite.accuracy` | 0.965 | 0.955 | -0.01 |',
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
    expect(j.metrics).toEqual(
      ['', '.runtimes.litert', '.runtimes.tfjs-tflite'].map((r) => ({ path: `models.student_int8.tflite${r}.accuracy`, old: 0.965, new: 0.955, delta: -0.01, changed: true })),
    );
    expect(j.config).toEqual([{ key: 'distillation.temperature', old: '4', new: '2' }]);
    expect(j.gates.map((g: { crossed: boolean }) => g.crossed)).toEqual([true, false]);
  });
});

