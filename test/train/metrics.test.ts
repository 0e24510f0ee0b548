import { describe, expect, it } from 'vitest';
import { epochOrder, gatherLabels, gatherRows, oneHotRows } from '../../src/train/batches.ts';
import { accuracy, agreement, argmaxRows, confusionMatrix, perClassAccuracy } from '../../src/train/metrics.ts';

// Three classes, four images; predictions worked out by hand: 2, 0, 1, 0 (row 3 ties -> first index).
const logits = new Float32Array([0.1, 0.2, 0.9, 3, -1, 0, -5, 4, 1, 2, 2, 2]);
const labels = new Uint8Array([2, 1, 1, 0]);

describe('metrics', () => {
  it('argmax takes the first maximum', () => {
    expect(Array.from(argmaxRows(logits, 3))).toEqual([2, 0, 1, 0]);
  });
  it('accuracy, agreement, confusion matrix and per-class accuracy', () => {
    expect(accuracy(logits, labels, 3)).toBe(0.75);
    const other = new Float32Array([1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1]); // predicts 0, 0, 1, 2
    expect(agreement(logits, other, 3)).toBe(0.5);
    expect(confusionMatrix(logits, labels, 3)).toEqual([
      [1, 0, 0],
      [1, 1, 0],
      [0, 0, 1],
    ]);
    expect(perClassAccuracy(logits, labels, 3)).toEqual([1, 0.5, 1]);
  });
  it('reports a class without images as null and rejects mismatched inputs', () => {
    const l = new Float32Array([1, 0, 0, 0, 0, 1, 0, 0]);
    expect(perClassAccuracy(l, new Uint8Array([0, 1]), 4)).toEqual([1, 1, null, null]);
    expect(() => accuracy(logits, new Uint8Array([1]), 3)).toThrow(/4 rows of logits but 1 labels/);
    expect(() => accuracy(logits, labels, 5)).toThrow(/12 logits do not divide into rows of 5 classes/);
    expect(() => confusionMatrix(logits, new Uint8Array([0, 0, 0, 7]), 3)).toThrow(/label 7 of image 3 is outside 0..2/);
  });
});

describe('batches', () => {
  it('shuffles with a seed per epoch, or keeps the order', () => {
    const a0 = epochOrder(100, 1, 0, true);
    expect(Array.from(a0)).toEqual(Array.from(epochOrder(100, 1, 0, true)));
    expect(Array.from(a0)).not.toEqual(Array.from(epochOrder(100, 1, 1, true)));
    expect(Array.from(a0)).not.toEqual(Array.from(epochOrder(100, 2, 0, true)));
    expect([...a0].sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(Array.from(epochOrder(5, 1, 3, false))).toEqual([0, 1, 2, 3, 4]);
  });
  it('gathers rows, labels and one-hot rows in batch order', () => {
    const src = new Float32Array([0, 1, 10, 11, 20, 21, 30, 31]);
    const order = [3, 0, 2, 1];
    expect(Array.from(gatherRows(src, 2, order, 1, 3))).toEqual([0, 1, 20, 21]);
    expect(Array.from(gatherLabels(new Uint8Array([5, 6, 7, 8]), order, 0, 2))).toEqual([8, 5]);
    expect(Array.from(oneHotRows(new Uint8Array([2, 0, 1, 1]), 3, order, 2, 4))).toEqual([0, 1, 0, 1, 0, 0]);
  });
});
