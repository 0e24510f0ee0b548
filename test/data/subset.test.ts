import { describe, expect, it } from 'vitest';
import { KdqError } from '../../src/errors.ts';
import { applyLimit, firstExamples, gatherExamples, gatherLabels, splitIndices, validationCount } from '../../src/data/subset.ts';

function configError(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(KdqError);
    expect((err as KdqError).code).toBe('E_CONFIG');
    return (err as Error).message;
  }
  throw new Error('expected an E_CONFIG error');
}

describe('applyLimit', () => {
  it('keeps all for null, the first N otherwise, all when N is past the end', () => {
    expect(applyLimit(100, null, 'k')).toBe(100);
    expect(applyLimit(100, 7, 'k')).toBe(7);
    expect(applyLimit(100, 500, 'k')).toBe(100);
  });
  it('rejects zero, negative and fractional limits naming the key', () => {
    expect(configError(() => applyLimit(10, 0, 'data.trainLimit'))).toContain('data.trainLimit is 0');
    expect(configError(() => applyLimit(10, -3, 'data.testLimit'))).toContain('data.testLimit is -3');
    expect(configError(() => applyLimit(10, 2.5, 'data.trainLimit'))).toContain('2.5');
  });
});

describe('validation split', () => {
  it('rounds the hold-out and keeps at least one', () => {
    expect(validationCount(1000, 0)).toBe(0);
    expect(validationCount(1000, 0.1)).toBe(100);
    expect(validationCount(10, 0.25)).toBe(3); // 2.5 rounds up
    expect(validationCount(10, 0.01)).toBe(1);
  });
  it('rejects fractions outside [0, 1) and splits that leave nothing to train on', () => {
    expect(configError(() => validationCount(10, 1))).toContain('data.validationSplit is 1');
    expect(configError(() => validationCount(10, -0.1))).toContain('-0.1');
    expect(configError(() => validationCount(2, 0.9))).toContain('leaves none to train on');
  });

  it('is a seeded partition: disjoint, complete, ascending, same for the same seed', () => {
    const a = splitIndices(200, 0.2, 42);
    const b = splitIndices(200, 0.2, 42);
    expect(Array.from(a.validation)).toEqual(Array.from(b.validation));
    expect(a.validation.length).toBe(40);
    expect(a.train.length).toBe(160);
    const all = [...a.train, ...a.validation].sort((x, y) => x - y);
    expect(all).toEqual(Array.from({ length: 200 }, (_, i) => i));
    for (const part of [a.train, a.validation]) for (let i = 1; i < part.length; i++) expect(part[i]).toBeGreaterThan(part[i - 1]);
    // Not just the tail of the file: the hold-out is drawn from everywhere.
    expect(a.validation[0]).toBeLessThan(100);
    expect(a.validation[a.validation.length - 1]).toBeGreaterThanOrEqual(100);
  });

  it('differs between seeds', () => {
    const a = Array.from(splitIndices(200, 0.2, 1).validation);
    const b = Array.from(splitIndices(200, 0.2, 2).validation);
    expect(a).not.toEqual(b);
  });
});

describe('gathering examples', () => {
  const pixels = new Uint8Array([0, 255, 51, 102, 1, 2, 3, 4, 10, 20, 30, 40]); // three 2x2 images

  it('gathers examples (in their own element type) and labels at indices in order', () => {
    const out = gatherExamples(pixels, 4, new Uint32Array([2, 0]));
    expect(out).toBeInstanceOf(Uint8Array);
    expect(Array.from(out)).toEqual([10, 20, 30, 40, 0, 255, 51, 102]);
    const floats = gatherExamples(Float32Array.from([0.5, 1.5, 2.5]), 1, new Uint32Array([1]));
    expect(floats).toBeInstanceOf(Float32Array);
    expect(Array.from(floats)).toEqual([1.5]);
    expect(Array.from(gatherLabels(new Int32Array([7, 8, 9]), new Uint32Array([2, 0])))).toEqual([9, 7]);
  });
});

describe('firstExamples', () => {
  const images = Float32Array.from({ length: 5 * 4 }, (_, i) => i);
  const labels = Uint8Array.from([3, 1, 4, 1, 5]);
  const soft = Float32Array.from({ length: 5 * 2 }, (_, i) => -i);

  it('cuts images, labels and soft labels at the same image, as views', () => {
    const out = firstExamples(
      { images: { array: images, perImage: 4 }, labels: { array: labels, perImage: 1 }, soft: { array: soft, perImage: 2 } },
      5,
      2,
      'k',
    );
    expect([...out.images]).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect([...out.labels]).toEqual([3, 1]);
    expect([...out.soft]).toEqual([-0, -1, -2, -3]);
    expect(out.images.buffer).toBe(images.buffer);
  });

  it('keeps everything for null or a limit past the end, and rejects a bad limit or misaligned arrays', () => {
    expect(firstExamples({ labels: { array: labels, perImage: 1 } }, 5, null, 'k').labels).toHaveLength(5);
    expect(firstExamples({ labels: { array: labels, perImage: 1 } }, 5, 99, 'k').labels).toHaveLength(5);
    expect(() => firstExamples({ labels: { array: labels, perImage: 1 } }, 5, 0, 'student.training.trainLimit')).toThrow(
      /student.training.trainLimit is 0; give a whole number/,
    );
    expect(() => firstExamples({ soft: { array: soft, perImage: 3 } }, 5, 2, 'k')).toThrow(/'soft' has 10 values, expected 5 images x 3/);
  });
});
