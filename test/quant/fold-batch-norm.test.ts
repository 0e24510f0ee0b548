import { describe, expect, it } from 'vitest';
import { foldBatchNorm } from '../../src/quant/fold-batch-norm.ts';

describe('foldBatchNorm', () => {
  const bn = {
    gamma: Float32Array.from([2, 0.5]),
    beta: Float32Array.from([1, -1]),
    mean: Float32Array.from([0.5, 2]),
    variance: Float32Array.from([3, 0.25]),
    epsilon: 1,
  };

  it('matches batch norm applied after a dense layer ([out, in] weights)', () => {
    const w = Float32Array.from([1, 2, 3, -1, 0, 4]); // 2 outputs x 3 inputs
    const b = Float32Array.from([0.1, -0.2]);
    const f = foldBatchNorm(w, b, 'first', bn);
    const x = [0.3, -1.2, 2];
    for (let c = 0; c < 2; c++) {
      const z = w[3 * c] * x[0] + w[3 * c + 1] * x[1] + w[3 * c + 2] * x[2] + b[c];
      const y = (bn.gamma[c] * (z - bn.mean[c])) / Math.sqrt(bn.variance[c] + bn.epsilon) + bn.beta[c];
      const yf = f.weights[3 * c] * x[0] + f.weights[3 * c + 1] * x[1] + f.weights[3 * c + 2] * x[2] + f.bias[c];
      expect(yf).toBeCloseTo(y, 5);
    }
  });

  it('scales the last axis for depthwise weights and leaves its inputs alone', () => {
    const w = Float32Array.from([1, 1, 1, 1]);
    const f = foldBatchNorm(w, new Float32Array(2), 'last', bn);
    expect(Array.from(f.weights)).toEqual([1, 0.5 / Math.sqrt(1.25), 1, 0.5 / Math.sqrt(1.25)].map(Math.fround));
    expect(Array.from(w)).toEqual([1, 1, 1, 1]);
  });

  it('rejects a channel count mismatch', () => {
    expect(() => foldBatchNorm(new Float32Array(3), new Float32Array(3), 'first', bn)).toThrow(/batchNormalization with 2 channels/);
  });
});
