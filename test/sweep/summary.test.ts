import { describe, expect, it } from 'vitest';
import type { Metrics } from '../../src/report/metrics.ts';
import {
  buildSweepSummary,
  columnTitle,
  defaultRank,
  formatSweepMarkdown,
  metricValue,
  serializeSweepSummary,
  type PointOutcome,
} from '../../src/sweep/summary.ts';
import { sweepMetrics } from './fixtures.ts';

/** The int8 file is 1000 bytes at every point: these tests rank and format, they do not plot sizes. */
const metrics = (student: number, int8: number | null, extra: Partial<Metrics> = {}): Metrics =>
  sweepMetrics(student, int8 === null ? null : { accuracy: int8, bytes: 1000 }, extra);

const point = (id: string, t: number, m: Metrics | null, error?: string): PointOutcome => ({
  id,
  params: { 'distillation.temperature': t },
  runDir: m ? `/runs/x-${id}/r` : null,
  metrics: m,
  ...(error ? { error } : {}),
});

describe('buildSweepSummary', () => {
  it('ranks by the quantized accuracy by default, best first and marked, ties in point order', () => {
    const s = buildSweepSummary(
      'x',
      'sw1',
      ['distillation.temperature'],
      [point('p1', 1, metrics(0.8, 0.7)), point('p2', 2, metrics(0.85, 0.9)), point('p3', 5, metrics(0.82, 0.7))],
    );
    expect(s.rank).toBe('models.student_int8.tflite.accuracy');
    expect(s.rows.map((r) => [r.id, r.best])).toEqual([
      ['p2', true],
      ['p1', false],
      ['p3', false],
    ]);
    expect(s.columns).toEqual([
      'models.teacher.accuracy',
      'models.student.accuracy',
      'models.student_int8.tflite.accuracy',
      'models.student_int8.tflite.bytes',
    ]);
    expect(s.rows[0]!.metrics).toEqual({
      'models.teacher.accuracy': 0.9,
      'models.student.accuracy': 0.85,
      'models.student_int8.tflite.accuracy': 0.9,
      'models.student_int8.tflite.bytes': 1000,
    });
  });

  it('honours an explicit rank and puts failed points and missing values last, never best', () => {
    const s = buildSweepSummary(
      'x',
      'sw1',
      ['distillation.temperature'],
      [point('p1', 1, null, 'stage "teacher@s1" failed: loss is NaN'), point('p2', 2, metrics(0.5, 0.4)), point('p3', 5, metrics(0.6, 0.3))],
      'models.student.accuracy',
    );
    expect(s.rows.map((r) => r.id)).toEqual(['p3', 'p2', 'p1']);
    expect(s.rows.map((r) => r.best)).toEqual([true, false, false]);
    expect(s.rows[2]!.error).toContain('loss is NaN');
    expect(s.columns[0]).toBe('models.teacher.accuracy');
  });

  it('marks no point when none has the rank metric', () => {
    const s = buildSweepSummary('x', 'sw', ['k'], [point('p1', 1, null, 'boom')]);
    expect(s.rows[0]!.best).toBe(false);
  });

  it('falls back to the student accuracy when points quantize differently', () => {
    expect(defaultRank([point('p1', 1, metrics(0.5, 0.4)), point('p2', 1, metrics(0.5, null))])).toBe('models.student.accuracy');
  });

  it('uses means over seeds when metrics.json has a seed summary', () => {
    const m = metrics(0.5, 0.4, { seeds: [], summary: { 'student.accuracy': { mean: 0.55, std: 0.01, n: 2 }, kd_gain: { mean: 0.02, std: 0, n: 2 } } });
    expect(metricValue(m, 'models.student.accuracy')).toBe(0.55);
    expect(metricValue(m, 'kd_gain')).toBe(0.02);
    expect(metricValue(m, 'models.teacher.accuracy')).toBe(0.9);
    expect(metricValue(m, 'models.nothing.accuracy')).toBeUndefined();
  });
});

describe('summary files', () => {
  const s = buildSweepSummary('x', 'sw1', ['distillation.temperature'], [point('p1', 1, metrics(0.8, 0.7123456789)), point('p2', 2, null, 'a|b')]);

  it('writes the table best first with short column titles and failures', () => {
    expect(formatSweepMarkdown(s).split('\n')).toEqual([
      '# Sweep sw1 of x',
      '',
      '2 points, ranked by `models.student_int8.tflite.accuracy` (highest first). ★ marks the best point.',
      '',
      '|  | point | distillation.temperature | teacher acc | student acc | student_int8 tflite acc | student_int8 tflite bytes | run |',
      '|---|---|---|---|---|---|---|---|',
      '| ★ | p1 | 1 | 90.00% | 80.00% | 71.23% | 1000 | /runs/x-p1/r |',
      '|  | p2 | 2 |  |  |  |  | failed: a\\|b |',
      '',
    ]);
    expect(columnTitle('kd_gain')).toBe('kd_gain');
  });

  it('rounds floats in summary.json like metrics.json', () => {
    const json = JSON.parse(serializeSweepSummary(s));
    expect(json.rows[0].metrics['models.student_int8.tflite.accuracy']).toBe(0.712346);
    expect(json.rank).toBe('models.student_int8.tflite.accuracy');
    expect(json.rows.map((r: { id: string }) => r.id)).toEqual(['p1', 'p2']);
  });
});
