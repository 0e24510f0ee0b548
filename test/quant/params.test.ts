import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { activationParams, biasScales, quantizeAffine, quantizeBias, quantizeSymmetric, toUint8Params } from '../../src/quant/params.ts';

describe('activationParams', () => {
  it('maps [0, 1] onto the full int8 range with zero at -128', () => {
    const p = activationParams(0, 1);
    expect(p.scale).toBeCloseTo(1 / 255, 12);
    expect(p.zeroPoint).toBe(-128);
  });

  it('widens a range that excludes 0 so that 0 is exact', () => {
    const p = activationParams(2, 4);
    expect(p.scale).toBeCloseTo(4 / 255, 12);
    expect(p.zeroPoint).toBe(-128);
    const n = activationParams(-6, -1);
    expect(n.zeroPoint).toBe(127);
  });

  it('represents both ends and zero of any range within half a step', () => {
    fc.assert(
      fc.property(fc.float({ min: -100, max: 0, noNaN: true }), fc.float({ min: Math.fround(0.01), max: 100, noNaN: true }), (lo, hi) => {
        const p = activationParams(lo, hi);
        expect(p.zeroPoint).toBeGreaterThanOrEqual(-128);
        expect(p.zeroPoint).toBeLessThanOrEqual(127);
        const [qlo, q0, qhi] = quantizeAffine([lo, 0, hi], p);
        expect(Math.abs(p.scale * (qlo - p.zeroPoint) - lo)).toBeLessThanOrEqual(p.scale * 0.5 + 1e-9 * (hi - lo));
        expect(p.scale * (q0 - p.zeroPoint)).toBe(0);
        expect(Math.abs(p.scale * (qhi - p.zeroPoint) - hi)).toBeLessThanOrEqual(p.scale * 0.5 + 1e-9 * (hi - lo));
      }),
    );
  });

  it('gives a usable scale for an all-zero tensor', () => {
    expect(activationParams(0, 0)).toEqual({ scale: 1, zeroPoint: 0 });
  });

  it('uint8 keeps the scale and moves the zero point by 128', () => {
    expect(toUint8Params({ scale: 0.5, zeroPoint: -128 })).toEqual({ scale: 0.5, zeroPoint: 0 });
  });
});

describe('quantizeSymmetric', () => {
  it('scales each output channel (first axis) by its own max and never uses -128', () => {
    // Two channels of 3: channel 0 max |w| = 2, channel 1 max |w| = 0.5.
    const w = Float32Array.from([-2, 1, 0.5, 0.5, -0.25, 0]);
    const q = quantizeSymmetric(w, 2, 'first');
    expect(q.scales[0]).toBeCloseTo(2 / 127, 12);
    expect(q.scales[1]).toBeCloseTo(0.5 / 127, 12);
    expect(Array.from(q.values)).toEqual([-127, 64, 32, 127, -64, 0]);
  });

  it('reads channels on the last axis for depthwise weights', () => {
    // [.., C=2]: elements alternate channels.
    const w = Float32Array.from([1, -4, -1, 2]);
    const q = quantizeSymmetric(w, 2, 'last');
    expect(q.scales).toEqual([1 / 127, 4 / 127]);
    expect(Array.from(q.values)).toEqual([127, -127, -127, 64]);
  });

  it('per tensor uses one scale; an all-zero channel gets scale 1', () => {
    const q = quantizeSymmetric(Float32Array.from([0, 0, 3, -3]), 1, 'first');
    expect(q.scales).toEqual([3 / 127]);
    expect(quantizeSymmetric(new Float32Array(4), 2, 'first').scales).toEqual([1, 1]);
  });

  it('round-trips within half a step and stays in [-127, 127]', () => {
    fc.assert(
      fc.property(fc.array(fc.float({ min: -10, max: 10, noNaN: true }), { minLength: 4, maxLength: 64 }), (xs) => {
        const w = Float32Array.from(xs.slice(0, xs.length - (xs.length % 4)));
        const q = quantizeSymmetric(w, 4, 'last');
        w.forEach((v, i) => {
          const s = q.scales[i % 4];
          expect(q.values[i]).toBeGreaterThanOrEqual(-127);
          expect(Math.abs(q.values[i] * s - v)).toBeLessThanOrEqual(s / 2 + 1e-6);
        });
      }),
    );
  });
});

describe('bias', () => {
  it('scale is input scale times weight scale, zero point 0, rounded to int32', () => {
    const scales = biasScales(0.5, [0.01, 0.02]);
    expect(scales[0]).toBeCloseTo(0.005, 9);
    expect(scales[1]).toBeCloseTo(0.01, 9);
    expect(Array.from(quantizeBias(Float32Array.from([1, -1]), scales))).toEqual([200, -100]);
    expect(Array.from(quantizeBias(Float32Array.from([1e30]), [1e-10]))).toEqual([2147483647]);
  });
});
