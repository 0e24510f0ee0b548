import { describe, expect, it } from 'vitest';
import { fromFloat16Bits, toFloat16Array, toFloat16Bits } from '../../src/quant/float16.ts';

describe('float16', () => {
  it('encodes known values exactly', () => {
    expect(toFloat16Bits(1)).toBe(0x3c00);
    expect(toFloat16Bits(-2)).toBe(0xc000);
    expect(toFloat16Bits(0.5)).toBe(0x3800);
    expect(toFloat16Bits(65504)).toBe(0x7bff);
    expect(toFloat16Bits(1e6)).toBe(0x7c00);
    expect(toFloat16Bits(2 ** -24)).toBe(0x0001);
    expect(toFloat16Bits(0)).toBe(0);
    expect(toFloat16Bits(Number.NaN) & 0x7c00).toBe(0x7c00);
  });

  it('rounds half to even', () => {
    // 1 + 2^-11 lies halfway between 1 and 1 + 2^-10: even mantissa (1) wins.
    expect(toFloat16Bits(1 + 2 ** -11)).toBe(0x3c00);
    // 1 + 3 * 2^-11 lies halfway between mantissa 1 and 2: 2 wins.
    expect(toFloat16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
  });

  it('round-trips within float16 precision', () => {
    const v = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i) * 10 ** ((i % 9) - 4));
    const h = toFloat16Array(v);
    v.forEach((x, i) => {
      const back = fromFloat16Bits(h[i]);
      expect(Math.abs(back - x)).toBeLessThanOrEqual(Math.max(Math.abs(x) * 2 ** -11, 2 ** -25));
    });
  });
});
