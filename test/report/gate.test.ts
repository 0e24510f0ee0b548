/** The --fail-on language: parsing, path checks and evaluation over two runs' metrics. */
import { describe, expect, it } from 'vitest';
import { KdqError } from '../../src/errors.ts';
import { diffRuns, type RunData } from '../../src/report/diff.ts';
import { evaluateCondition, parseCondition } from '../../src/report/gate.ts';
import { flatten } from '../../src/report/metric-values.ts';
import { sampleMetrics } from './fixtures.ts';

const run = (label: string, int8 = 0.965, temperature = 4): RunData => ({
  label,
  metrics: JSON.parse(JSON.stringify(sampleMetrics({ int8 }))),
  config: { name: 'kd-sample', distillation: { temperature, alpha: 0.9 } },
});
const values = (a: RunData, b: RunData) => ({ old: flatten(a.metrics), new: flatten(b.metrics) });

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
      // In metrics.json's fractions, as the expression is written, and in points, as tables print it.
      detail: 'delta(models.student_int8.tflite.accuracy) = -0.01 (-1.00 pt)',
    });
    expect(check('new(models.student_int8.tflite.accuracy) < 0.5').detail).toBe('new(models.student_int8.tflite.accuracy) = 0.955 (95.50%)');
    expect(check('models.student_int8.tflite.bytes > 0').detail).toBe('delta(models.student_int8.tflite.bytes) = 0');
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
