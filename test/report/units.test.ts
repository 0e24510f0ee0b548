/** One way of printing numbers for people across diff, runs, summaries and the report. */
import { describe, expect, it } from 'vitest';
import { formatChange, formatValue, isFraction, pct, points, pt, shortenHashes } from '../../src/report/units.ts';

describe('units', () => {
  it('accuracies and agreements are fractions; sizes, counts and params are not', () => {
    for (const p of [
      'models.student.accuracy',
      'models.student.per_class_accuracy.3',
      'models.s.tflite.agreement_with_student',
      'kd_gain',
      'summary.kd_gain.mean',
      'summary.student.tflite.accuracy.std',
      'int8_acc',
    ]) {
      expect(isFraction(p), p).toBe(true);
    }
    for (const p of ['models.student.tflite.bytes', 'models.student.params', 'summary.kd_gain.n', 'data.train', 'seed']) expect(isFraction(p), p).toBe(false);
  });

  it('prints accuracies in percent, gains, changes and spreads in points', () => {
    expect(formatValue('models.student.accuracy', 0.97054)).toBe('97.05%');
    expect(formatValue('kd_gain', -0.026)).toBe('-2.60 pt');
    expect(formatValue('summary.kd_gain.std', 0.0035)).toBe('0.35 pt');
    expect(formatValue('models.student.tflite.bytes', 181000)).toBe('181000');
    expect(formatChange('models.student.accuracy', 0.02)).toBe('+2.00 pt');
    expect(formatChange('models.student.tflite.bytes', -1024)).toBe('-1024');
    expect(pct(0.5)).toBe('50.00%');
    expect(pt(-0.026)).toBe('-2.60 pt');
  });

  it('keeps a change too small for two decimals visible', () => {
    expect(points(0.000012)).toBe('+0.0012');
    expect(points(-0.000012)).toBe('-0.0012');
    expect(points(0)).toBe('+0.00');
    expect(points(1e-18)).toBe('+0.00'); // float noise, not a change
    expect(points(-1e-9)).toBe('+0.00');
  });

  it('shortens hex digests of 40 characters or more to 12', () => {
    expect(shortenHashes(`sha ${'a'.repeat(64)} and ${'b'.repeat(39)}`)).toBe(`sha aaaaaaaaaaaa… and ${'b'.repeat(39)}`);
  });
});
