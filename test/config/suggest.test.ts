import { describe, expect, it } from 'vitest';
import { ACTIVATIONS, LAYER_TYPES, OPTIMIZERS } from '../../src/names.ts';
import { damerauLevenshtein, didYouMean, suggest } from '../../src/util/suggest.ts';

describe('damerauLevenshtein', () => {
  it('counts insertions, deletions, substitutions and adjacent swaps as one edit each', () => {
    expect(damerauLevenshtein('', '')).toBe(0);
    expect(damerauLevenshtein('abc', '')).toBe(3);
    expect(damerauLevenshtein('temprature', 'temperature')).toBe(1);
    expect(damerauLevenshtein('relu', 'rleu')).toBe(1);
    expect(damerauLevenshtein('kitten', 'sitting')).toBe(3);
    expect(damerauLevenshtein('ca', 'abc')).toBe(3); // optimal string alignment, not unrestricted
  });

  it('is symmetric', () => {
    for (const [a, b] of [
      ['dense', 'dnese'],
      ['flatten', 'flaten'],
      ['conv2d', 'depthwiseConv2d'],
    ] as const) {
      expect(damerauLevenshtein(a, b)).toBe(damerauLevenshtein(b, a));
    }
  });
});

describe('suggest', () => {
  it('finds the intended name for common slips', () => {
    expect(suggest('maxpool2d', LAYER_TYPES)).toBe('maxPooling2d');
    expect(suggest('MaxPooling2D', LAYER_TYPES)).toBe('maxPooling2d');
    expect(suggest('Dense', LAYER_TYPES)).toBe('dense');
    expect(suggest('batchnorm', LAYER_TYPES)).toBe('batchNormalization');
    expect(suggest('global', LAYER_TYPES)).toBe('globalAveragePooling2d');
    expect(suggest('conv', LAYER_TYPES)).toBe('conv2d');
    expect(suggest('sigmiod', ACTIVATIONS)).toBe('sigmoid');
    expect(suggest('relu7', ACTIVATIONS)).toBe('relu6');
    expect(suggest('adamw', OPTIMIZERS)).toBe('adam');
  });

  it('stays quiet when nothing is close', () => {
    expect(suggest('lstm', LAYER_TYPES)).toBeUndefined();
    expect(suggest('xyz', ['ab'])).toBeUndefined();
    expect(suggest('anything', [])).toBeUndefined();
    expect(didYouMean('zzzzzz', ['temperature'])).toBe('');
    expect(didYouMean('temprature', ['temperature', 'hardWeight'])).toBe("; did you mean 'temperature'?");
  });
});
