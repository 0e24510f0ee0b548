import { describe, expect, it } from 'vitest';
import { RangeObserver } from '../../src/quant/calibrate.ts';
import { percentile } from '../../src/quant/percentile.ts';
import { KdqError } from '../../src/errors.ts';

describe('percentile', () => {
  it('interpolates between order statistics and leaves the input unsorted', () => {
    const v = Float32Array.from([4, 1, 3, 2, 5]);
    expect(percentile(v, 0)).toBe(1);
    expect(percentile(v, 100)).toBe(5);
    expect(percentile(v, 50)).toBe(3);
    expect(percentile(v, 62.5)).toBe(3.5);
    expect(Array.from(v)).toEqual([4, 1, 3, 2, 5]);
  });
});

describe('RangeObserver', () => {
  it('minmax covers every value seen over all batches', () => {
    const o = new RangeObserver(false);
    o.observe(Float32Array.from([0.5, -1]));
    o.observe(Float32Array.from([3, 0]));
    expect(o.range({ method: 'minmax' })).toEqual({ min: -1, max: 3 });
  });

  it('percentile clips a rare outlier but keeps a one-sided range one-sided', () => {
    const o = new RangeObserver(true);
    const v = new Float32Array(10000);
    for (let i = 0; i < v.length; i++) v[i] = (i % 100) / 100; // 0 .. 0.99
    v[1234] = 50; // one outlier
    o.observe(v);
    const r = o.range({ method: 'percentile', percentile: 99.9 });
    expect(r.min).toBe(0);
    expect(r.max).toBeGreaterThan(0.98);
    expect(r.max).toBeLessThan(1);
    expect(o.range({ method: 'minmax' }).max).toBe(50);
  });

  it('rejects NaN activations, an empty observer and a percentile outside (0, 100]', () => {
    const o = new RangeObserver(true);
    expect(() => o.range({ method: 'minmax' })).toThrow(/no values/);
    expect(() => o.observe(Float32Array.from([NaN]))).toThrow(KdqError);
    o.observe(Float32Array.from([1]));
    expect(() => o.range({ method: 'percentile', percentile: 0 })).toThrow(/outside/);
  });
});
