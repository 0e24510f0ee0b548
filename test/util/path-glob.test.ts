/** Globs over dotted metric paths (`kdq diff --only`). */
import { describe, expect, it } from 'vitest';
import { anyPathGlob, compilePathGlob } from '../../src/util/path-glob.ts';

describe('path globs', () => {
  it("'*' matches within one segment, '**' any number of segments (zero too), whole paths only", () => {
    const m = compilePathGlob('models.*.tflite.accuracy');
    expect(m('models.student.tflite.accuracy')).toBe(true);
    expect(m('models.student.tflite.runtimes.litert.accuracy')).toBe(false);
    expect(m('models.student.tflite.accuracy.x')).toBe(false);
    expect(compilePathGlob('models.student_*.**')('models.student_int8.tflite.bytes')).toBe(true);
    expect(compilePathGlob('models.student_*.**')('models.student')).toBe(false);
    expect(compilePathGlob('**.accuracy')('accuracy')).toBe(true);
    expect(compilePathGlob('**.accuracy')('models.a.b.accuracy')).toBe(true);
    expect(compilePathGlob('kd_gain')('kd_gain')).toBe(true);
    expect(compilePathGlob('kd_gain')('summary.kd_gain.mean')).toBe(false);
  });

  it('treats regular-expression characters literally', () => {
    expect(compilePathGlob('a+b.(c)')('a+b.(c)')).toBe(true);
    expect(compilePathGlob('a+b.(c)')('aab.c')).toBe(false);
  });

  it('stays fast on a glob of many ** (memoized, not exponential)', () => {
    const glob = Array.from({ length: 60 }, () => '**').join('.') + '.x';
    const t0 = performance.now();
    expect(compilePathGlob(glob)(Array.from({ length: 60 }, () => 'a').join('.'))).toBe(false);
    expect(performance.now() - t0).toBeLessThan(2000);
  });

  it('anyPathGlob matches when any glob does', () => {
    const m = anyPathGlob(['kd_gain', 'data.*']);
    expect([m('kd_gain'), m('data.sha256'), m('models.x')]).toEqual([true, true, false]);
  });
});
