import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.ts';
import { KD_LOSSES } from '../../src/names.ts';
import { crossEntropyFromLogits, distillationLoss, SOFT_LOSS_REGISTRY, softTargets } from '../../src/models/losses.ts';
import { createRng } from '../../src/util/random.ts';

// Reference values in float64, written from the formulas independently of tf.js.
type Rows = number[][];

function logSoftmax64(v: number[]): number[] {
  const m = Math.max(...v);
  const lse = Math.log(v.reduce((acc, x) => acc + Math.exp(x - m), 0)) + m;
  return v.map((x) => x - lse);
}
const softmax64 = (v: number[]) => logSoftmax64(v).map(Math.exp);
const scale = (v: number[], k: number) => v.map((x) => x * k);

function ce64(y: Rows, s: Rows): number {
  return -y.reduce((acc, yi, i) => acc + yi.reduce((a, yk, k) => a + yk * logSoftmax64(s[i])[k], 0), 0) / y.length;
}
function kl64(s: Rows, t: Rows, T: number, squared: boolean): number {
  let total = 0;
  s.forEach((si, i) => {
    const logP = logSoftmax64(scale(t[i], 1 / T));
    const logQ = logSoftmax64(scale(si, 1 / T));
    total += logP.reduce((a, lp, k) => a + Math.exp(lp) * (lp - logQ[k]), 0);
  });
  return (total / s.length) * (squared ? T * T : 1);
}
function mse64(s: Rows, t: Rows): number {
  let total = 0;
  s.forEach((si, i) => si.forEach((x, k) => (total += (x - t[i][k]) ** 2)));
  return total / (s.length * s[0].length);
}
/** d loss / d s, closed form. */
function grad64(y: Rows, s: Rows, t: Rows, c: Cfg): Rows {
  const n = s.length;
  const nc = s[0].length;
  return s.map((si, i) => {
    const hard = softmax64(si).map((p, k) => (c.hardWeight * (p - y[i][k])) / n);
    let soft: number[];
    if (c.loss === 'kl') {
      const q = softmax64(scale(si, 1 / c.temperature));
      const p = softmax64(scale(t[i], 1 / c.temperature));
      const f = c.temperatureSquared ? c.temperature : 1 / c.temperature;
      soft = q.map((qk, k) => (c.softWeight * f * (qk - p[k])) / n);
    } else {
      soft = si.map((x, k) => (c.softWeight * 2 * (x - t[i][k])) / (n * nc));
    }
    return hard.map((h, k) => h + soft[k]);
  });
}
interface Cfg {
  temperature: number;
  hardWeight: number;
  softWeight: number;
  loss: 'kl' | 'mse';
  temperatureSquared: boolean;
}
function loss64(y: Rows, s: Rows, t: Rows, c: Cfg): number {
  const soft = c.loss === 'kl' ? kl64(s, t, c.temperature, c.temperatureSquared) : mse64(s, t);
  return c.hardWeight * ce64(y, s) + c.softWeight * soft;
}

function randomCase(seed: number, n: number, nc: number, spread: number) {
  const rng = createRng(seed);
  const rows = () => Array.from({ length: n }, () => Array.from({ length: nc }, () => (rng() * 2 - 1) * spread));
  const s = rows();
  const t = rows();
  const y = Array.from({ length: n }, () => {
    const k = Math.floor(rng() * nc);
    return Array.from({ length: nc }, (_, j) => (j === k ? 1 : 0));
  });
  return { s, t, y };
}

/** tf.js loss and gradient w.r.t. the student logits. */
function tfLossAndGrad(y: Rows, s: Rows, t: Rows, c: Cfg): { loss: number; grad: Rows } {
  const ys = tf.tensor2d(y);
  const ts = tf.tensor2d(t);
  const ss = tf.tensor2d(s);
  const { value, grad } = tf.valueAndGrad((x: tf.Tensor) => distillationLoss({ studentLogits: x as tf.Tensor2D, teacherLogits: ts, oneHot: ys, config: c }))(
    ss,
  );
  const out = { loss: value.dataSync()[0], grad: grad.arraySync() as Rows };
  tf.dispose([ys, ts, ss, value, grad]);
  return out;
}

function expectClose(actual: Rows, expected: Rows, rel: number) {
  const norm = Math.max(...expected.flat().map(Math.abs));
  actual.flat().forEach((a, i) => expect(Math.abs(a - expected.flat()[i])).toBeLessThanOrEqual(rel * norm));
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('distillationLoss', () => {
  const combos: [number, number][] = [
    [1, 0],
    [0, 1],
    [0.5, 0.5],
    [0.1, 0.9],
  ];
  for (const loss of ['kl', 'mse'] as const) {
    for (const T of [1, 2, 4, 10]) {
      for (const squared of [true, false]) {
        for (const [hardWeight, softWeight] of combos) {
          if (loss === 'mse' && (T !== 1 || !squared)) continue; // T does not apply to mse
          it(`${loss} T=${T} T^2=${squared} hard=${hardWeight} soft=${softWeight}: value and gradient match float64`, () => {
            const c: Cfg = { temperature: T, hardWeight, softWeight, loss, temperatureSquared: squared };
            const { s, t, y } = randomCase(1000 + T * 7 + hardWeight * 100, 6, 10, 8);
            const got = tfLossAndGrad(y, s, t, c);
            const want = loss64(y, s, t, c);
            expect(Math.abs(got.loss - want)).toBeLessThan(1e-5 * Math.max(1, Math.abs(want)));
            expectClose(got.grad, grad64(y, s, t, c), 1e-5);
          });
        }
      }
    }
  }

  it('mse ignores the temperature', () => {
    const { s, t, y } = randomCase(5, 4, 10, 3);
    const a = tfLossAndGrad(y, s, t, { temperature: 1, hardWeight: 0, softWeight: 1, loss: 'mse', temperatureSquared: true });
    const b = tfLossAndGrad(y, s, t, { temperature: 7, hardWeight: 0, softWeight: 1, loss: 'mse', temperatureSquared: false });
    expect(a.loss).toBe(b.loss);
    expect(a.grad).toEqual(b.grad);
  });

  it('with T^2 the soft gradient tends to ((s - t) - mean(s - t)) / (N C) as T grows; without it shrinks like 1/T^2', () => {
    const n = 5;
    const nc = 10;
    const { s, t, y } = randomCase(77, n, nc, 2);
    const limit = s.map((si, i) => {
      const d = si.map((x, k) => x - t[i][k]);
      const mean = d.reduce((a, b) => a + b, 0) / nc;
      return d.map((x) => (x - mean) / (n * nc));
    });
    const norm = (r: Rows) => Math.sqrt(r.flat().reduce((a, b) => a + b * b, 0));
    const diff = (a: Rows, b: Rows) => a.map((r, i) => r.map((x, k) => x - b[i][k]));
    const soft = (T: number, squared: boolean) =>
      tfLossAndGrad(y, s, t, { temperature: T, hardWeight: 0, softWeight: 1, loss: 'kl', temperatureSquared: squared }).grad;

    let lastErr = Infinity;
    for (const T of [5, 20, 100]) {
      const err = norm(diff(soft(T, true), limit)) / norm(limit);
      expect(err).toBeLessThan(lastErr); // approaches the T-independent limit
      lastErr = err;
    }
    expect(lastErr).toBeLessThan(0.02);
    // Without T^2: doubling T divides the gradient by about 4.
    const ratio = norm(soft(20, false)) / norm(soft(40, false));
    expect(ratio).toBeGreaterThan(3.8);
    expect(ratio).toBeLessThan(4.2);
    // With T^2 doubling T leaves it about the same.
    const ratioSq = norm(soft(20, true)) / norm(soft(40, true));
    expect(Math.abs(ratioSq - 1)).toBeLessThan(0.05);
  });

  it('stays finite for huge logits (logSoftmax, not log(softmax))', () => {
    const s = [[1e4, -1e4, 0]];
    const t = [[-1e4, 1e4, 0]];
    const y = [[0, 1, 0]];
    const c: Cfg = { temperature: 2, hardWeight: 0.5, softWeight: 0.5, loss: 'kl', temperatureSquared: true };
    const got = tfLossAndGrad(y, s, t, c);
    expect(Number.isFinite(got.loss)).toBe(true);
    expect(got.loss).toBeCloseTo(loss64(y, s, t, c), 0);
    got.grad.flat().forEach((g) => expect(Number.isFinite(g)).toBe(true));
  });

  it('plain cross-entropy equals -mean log softmax(s)[label]', () => {
    const { s, y } = randomCase(9, 7, 10, 5);
    const v = tf.tidy(() => crossEntropyFromLogits(tf.tensor2d(y), tf.tensor2d(s)).dataSync()[0]);
    expect(Math.abs(v - ce64(y, s))).toBeLessThan(1e-5);
  });

  it('has one soft term per name in KD_LOSSES', () => {
    expect(Object.keys(SOFT_LOSS_REGISTRY).sort()).toEqual([...KD_LOSSES].sort());
  });
});

describe('soft targets computed once (train/shard.ts) give the bits of computing them every step', () => {
  const bits = (t: tf.Tensor) => Array.from(new Int32Array((t.dataSync() as Float32Array).slice().buffer));

  it.each(['wasm', 'cpu'] as const)('a row of softTargets does not depend on the rows computed with it (%s)', async (backend) => {
    await initBackend(backend);
    const rng = createRng(3);
    const all = Array.from({ length: 300 }, () => Array.from({ length: 10 }, () => (rng() - 0.5) * 20));
    const whole = softTargets(tf.tensor2d(all), 5);
    const rows = [7, 0, 299, 150, 31];
    const part = softTargets(tf.tensor2d(rows.map((r) => all[r]!)), 5);
    const [wl, wp, pl, pp] = [whole.logP, whole.p, part.logP, part.p].map(bits);
    rows.forEach((r, i) => {
      expect(pl!.slice(10 * i, 10 * i + 10)).toEqual(wl!.slice(10 * r, 10 * r + 10));
      expect(pp!.slice(10 * i, 10 * i + 10)).toEqual(wp!.slice(10 * r, 10 * r + 10));
    });
    tf.dispose([whole.logP, whole.p, part.logP, part.p]);
    await tf.setBackend('cpu');
  });

  it('the KD loss and its gradient are the same bits with the targets given', () => {
    const { s, t, y } = randomCase(21, 32, 10, 5);
    const c = { temperature: 5, hardWeight: 0.5, softWeight: 0.5, loss: 'kl' as const, temperatureSquared: true };
    const [ts, ys] = [tf.tensor2d(t), tf.tensor2d(y)];
    const targets = softTargets(ts, c.temperature);
    const run = (given: boolean) =>
      tf.valueAndGrad((x: tf.Tensor) =>
        distillationLoss({ studentLogits: x as tf.Tensor2D, teacherLogits: ts, oneHot: ys, config: c, ...(given ? { targets } : {}) }),
      )(tf.tensor2d(s));
    const a = run(true);
    const b = run(false);
    expect(bits(a.value)).toEqual(bits(b.value));
    expect(bits(a.grad)).toEqual(bits(b.grad));
    tf.dispose([ts, ys, targets.logP, targets.p, a.value, a.grad, b.value, b.grad]);
  });
});
