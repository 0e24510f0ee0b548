import { describe, expect, it } from 'vitest';
import { KdqError } from '../../../src/errors.ts';
import { stratifiedSplit, testShare } from '../../../src/data/formats/test-split.ts';

describe('stratifiedSplit', () => {
  const labels = [0, 1, 0, 1, 0, 1, 0, 1, 0, 2];

  it('holds out round(n * fraction) of each class by a seeded shuffle, pinned for seed 1', () => {
    const s = stratifiedSplit(labels, 3, 0.4, 1, 'testSplit');
    expect(Array.from(s.test)).toMatchInlineSnapshot(`
      [
        1,
        3,
        4,
        6,
      ]
    `);
    expect([...s.train, ...s.test].sort((a, b) => a - b)).toEqual(labels.map((_, i) => i));
    expect(
      Array.from(s.test)
        .map((i) => labels[i])
        .sort(),
    ).toEqual([0, 0, 1, 1]); // class 2 has one example: it stays for training
  });

  it('is the same for the same seed and differs for another', () => {
    const many = Array.from({ length: 200 }, (_, i) => i % 4);
    const a = stratifiedSplit(many, 4, 0.25, 5, 'k');
    expect(stratifiedSplit(many, 4, 0.25, 5, 'k')).toEqual(a);
    expect(stratifiedSplit(many, 4, 0.25, 6, 'k').test).not.toEqual(a.test);
  });

  it('keeps one example of each class for training', () => {
    expect([testShare(1, 0.9), testShare(2, 0.9), testShare(10, 0.25)]).toEqual([0, 1, 3]);
  });

  it('rejects fractions outside (0, 1) and splits that leave the test set empty', () => {
    expect(() => stratifiedSplit(labels, 3, 0, 1, 'data.testSplit')).toThrow(KdqError);
    expect(() => stratifiedSplit([0, 1], 2, 0.2, 1, 'data.testSplit')).toThrow('data.testSplit 0.2 of 2 examples puts none in the test split');
  });
});
