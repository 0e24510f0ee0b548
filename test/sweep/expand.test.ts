import { describe, expect, it } from 'vitest';
import { parseSetArg } from '../../src/config/overrides.ts';
import { checkSweepShape, expandSweep, mergeSweepArgs, parseSweepArg, pointName, pointSetArgs, readSweepBlock } from '../../src/sweep/expand.ts';

describe('expandSweep', () => {
  it('walks a grid with the first key slowest, numbering points p1..pN', () => {
    const points = expandSweep({ grid: { 'distillation.temperature': [1, 5], 'student.training.epochs': [1, 2, 3] }, zip: {}, rank: null });
    expect(points.map((p) => p.id)).toEqual(['p1', 'p2', 'p3', 'p4', 'p5', 'p6']);
    expect(points.map((p) => [p.params['distillation.temperature'], p.params['student.training.epochs']])).toEqual([
      [1, 1],
      [1, 2],
      [1, 3],
      [5, 1],
      [5, 2],
      [5, 3],
    ]);
  });

  it('pairs zip lists item by item, as one more axis after the grid', () => {
    const points = expandSweep({
      grid: { 'distillation.temperature': [2, 4] },
      zip: { 'distillation.hardWeight': [0.1, 0.9], 'distillation.softWeight': [0.9, 0.1] },
      rank: null,
    });
    expect(points.map((p) => p.params)).toEqual([
      { 'distillation.temperature': 2, 'distillation.hardWeight': 0.1, 'distillation.softWeight': 0.9 },
      { 'distillation.temperature': 2, 'distillation.hardWeight': 0.9, 'distillation.softWeight': 0.1 },
      { 'distillation.temperature': 4, 'distillation.hardWeight': 0.1, 'distillation.softWeight': 0.9 },
      { 'distillation.temperature': 4, 'distillation.hardWeight': 0.9, 'distillation.softWeight': 0.1 },
    ]);
  });

  it('turns a point into --set arguments that parse back to the same values', () => {
    const [p] = expandSweep({
      grid: { 'distillation.loss': ['mse'], 'student.layers.0.kernelSize': [[3, 3]], 'data.trainLimit': [null] },
      zip: {},
      rank: null,
    });
    const args = pointSetArgs(p!);
    expect(args).toEqual(['distillation.loss="mse"', 'student.layers.0.kernelSize=[3,3]', 'data.trainLimit=null']);
    expect(args.map((a) => parseSetArg(a))).toEqual([
      { arg: args[0], path: ['distillation', 'loss'], value: 'mse' },
      { arg: args[1], path: ['student', 'layers', '0', 'kernelSize'], value: [3, 3] },
      { arg: args[2], path: ['data', 'trainLimit'], value: null },
    ]);
    expect(pointName('kd-mnist', p!)).toBe('kd-mnist-p1');
  });
});

describe('parseSweepArg', () => {
  it('reads comma-separated values as YAML', () => {
    expect(parseSweepArg('distillation.temperature=1,2.5,20')).toEqual({ path: 'distillation.temperature', values: [1, 2.5, 20] });
    expect(parseSweepArg('distillation.loss=kl,mse')).toEqual({ path: 'distillation.loss', values: ['kl', 'mse'] });
  });

  it('reads a value starting with [ as one YAML list, for items with commas', () => {
    expect(parseSweepArg('student.layers.0.kernelSize=[[3, 3], 5]')).toEqual({ path: 'student.layers.0.kernelSize', values: [[3, 3], 5] });
  });

  it.each([
    ['distillation.temperature', 'expected key.path=v1,v2'],
    ['=1,2', 'expected key.path=v1,v2'],
    ['distillation temperature=1', 'is not a key path'],
    ['distillation.temperature=', 'no values after'],
    ['distillation.temperature=1,,2', 'empty value'],
    ['distillation.temperature=[]', 'must be a non-empty list'],
    ['distillation.temperature={a', 'cannot read the value'],
  ])('rejects %s', (arg, message) => {
    const r = parseSweepArg(arg);
    expect('error' in r && r.error).toContain(message);
  });
});

describe('sweep blocks and command-line axes', () => {
  it('reads grid keys, zip and rank from a document', () => {
    const raw = { name: 'x', sweep: { 'distillation.temperature': [1, 2], zip: { seed: [1, 2] }, rank: 'models.student.accuracy' } };
    expect(readSweepBlock(raw)).toEqual({ grid: { 'distillation.temperature': [1, 2] }, zip: { seed: [1, 2] }, rank: 'models.student.accuracy' });
    expect(readSweepBlock({ name: 'x' })).toBeNull();
  });

  it('lets a --sweep axis replace the file axis of the same key, wherever it was', () => {
    const file = { grid: { 'distillation.temperature': [1, 2] }, zip: { seed: [1, 2], 'distillation.hardWeight': [0.5, 0.6] }, rank: null };
    expect(
      mergeSweepArgs(file, [
        { path: 'seed', values: [7] },
        { path: 'distillation.temperature', values: [9] },
      ]),
    ).toEqual({
      grid: { 'distillation.temperature': [9], seed: [7] },
      zip: { 'distillation.hardWeight': [0.5, 0.6] },
      rank: null,
    });
    expect(mergeSweepArgs(null, [])).toBeNull();
    expect(mergeSweepArgs(null, [{ path: 'seed', values: [1] }])).toEqual({ grid: { seed: [1] }, zip: {}, rank: null });
  });

  it('reports zip lists of different lengths, unsweepable and nested keys', () => {
    const issues = checkSweepShape({
      grid: { name: ['a'], student: [{}], 'student.training.epochs': [1] },
      zip: { 'distillation.hardWeight': [0.1, 0.2], 'distillation.softWeight': [0.9] },
      rank: null,
    });
    const text = issues.map(([p, m]) => `${p.join('.')}: ${m}`);
    expect(text).toContain(
      'zip: zip lists must have the same length (point i takes item i of each), but distillation.hardWeight has 2, distillation.softWeight has 1; make them equal or move a key out of zip to sweep it as a grid',
    );
    expect(text).toContain("name: 'name' cannot be swept; sweep settings such as distillation.temperature");
    expect(text).toContain("student.training.epochs: 'student.training.epochs' lies inside 'student', which is swept too; sweep one of them");
    expect(checkSweepShape({ grid: {}, zip: {}, rank: null })[0]![1]).toContain('at least one key path');
  });
});
