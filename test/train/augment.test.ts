import { describe, expect, it } from 'vitest';
import { augmentTransform } from '../../src/train/augment.ts';

/** A 4x5 image with 2 channels: value = 10 * pixel index + channel, so every pixel is recognisable. */
const H = 4;
const W = 5;
const C = 2;
function image(): Uint8Array {
  return Uint8Array.from({ length: H * W * C }, (_, i) => 10 * Math.floor(i / C) + (i % C));
}
const at = (img: Uint8Array, y: number, x: number) => [img[(y * W + x) * C], img[(y * W + x) * C + 1]];
/** The (y, x) of the source pixel an output pixel holds, or null for a zero pixel. */
function source(img: Uint8Array, y: number, x: number): [number, number] | null {
  const [a, b] = at(img, y, x);
  if (a === 0 && b === 0) return null; // pixel 0 is (0, 1): only padding is (0, 0)
  expect(b).toBe(a + 1); // channels travel together
  const p = a / 10;
  return [Math.floor(p / W), p % W];
}

function apply(cfg: Parameters<typeof augmentTransform>[0], seed: number, epoch: number, example: number): Uint8Array {
  const img = image();
  augmentTransform(cfg, [H, W, C], seed, epoch)(img, example);
  return img;
}

describe('augmentTransform', () => {
  it('draws from the seed, the epoch and the example index only: the same inputs give the same image', () => {
    const cfg = { crop: 2, flip: true, translate: 1 };
    expect(apply(cfg, 3, 1, 17)).toEqual(apply(cfg, 3, 1, 17));
    // A transform reused for other examples first (another batch, another thread) gives the same image.
    const t = augmentTransform(cfg, [H, W, C], 3, 1);
    for (let i = 0; i < 5; i++) t(image(), i);
    const img = image();
    t(img, 17);
    expect(img).toEqual(apply(cfg, 3, 1, 17));
    // Some other epoch, seed or example changes it (over a handful, at least one differs).
    const others = [apply(cfg, 3, 2, 17), apply(cfg, 4, 1, 17), apply(cfg, 3, 1, 18), apply(cfg, 3, 3, 17)];
    expect(others.some((o) => !Buffer.from(o).equals(Buffer.from(apply(cfg, 3, 1, 17))))).toBe(true);
  });

  it('flip mirrors left-right, for about half the examples', () => {
    let flipped = 0;
    for (let i = 0; i < 400; i++) {
      const img = apply({ flip: true }, 1, 0, i);
      if (Buffer.from(img).equals(Buffer.from(image()))) continue;
      flipped++;
      for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) expect(source(img, y, x)).toEqual([y, W - 1 - x]);
    }
    expect(flipped).toBeGreaterThan(160);
    expect(flipped).toBeLessThan(240);
  });

  it('crop shifts by up to the padding, filling with zeros; translate repeats the edge pixels', () => {
    const shifts = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const img = apply({ crop: 1 }, 2, 0, i);
      // Find the shift from a pixel that stays inside, then check every pixel against it.
      const s = source(img, 1, 2)!;
      const [dy, dx] = [s[0] - 1, s[1] - 2];
      shifts.add(`${dy},${dx}`);
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++) {
          const inside = y + dy >= 0 && y + dy < H && x + dx >= 0 && x + dx < W;
          expect(source(img, y, x)).toEqual(inside ? [y + dy, x + dx] : null);
        }
      }
    }
    expect(shifts.size).toBe(9); // every shift in [-1, 1] x [-1, 1]
    for (let i = 0; i < 50; i++) {
      const img = apply({ translate: 2 }, 5, 0, i);
      for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) expect(source(img, y, x)).not.toBeNull();
    }
  });

  it('works on float32 images too (stored values, before preprocessing)', () => {
    const img = Float32Array.from(image());
    augmentTransform({ flip: true, crop: 1 }, [H, W, C], 9, 0)(img, 3);
    const bytes = image();
    augmentTransform({ flip: true, crop: 1 }, [H, W, C], 9, 0)(bytes, 3);
    expect(Array.from(img)).toEqual(Array.from(bytes));
  });
});
