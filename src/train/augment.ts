/**
 * Augmentation of training images (`training.augment`): a random shift with the edge pixels
 * repeated (`translate`), a random window of the image padded with zeros (`crop`), and a
 * left-right mirror (`flip`), applied in that order to the stored values before they are
 * converted. Each example's draws depend only on the seed, the epoch and the example's index in
 * the training split, never on the batch or thread that takes it, so runs stay bit-identical
 * whatever `training.threads` is and an example looks different in every epoch.
 */
import type { AugmentConfig } from '../config/types.ts';
import type { ExampleArray } from '../data/formats/types.ts';
import type { ExampleTransform } from '../data/model-inputs.ts';
import { createRng, deriveSeed } from '../util/random.ts';

/** A well-mixed 32-bit seed for example `i` of an epoch (murmur3's finalizer over seed and index). */
function exampleSeed(epochSeed: number, i: number): number {
  let h = (epochSeed ^ Math.imul(i + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** An integer in [lo, hi], both included. */
const between = (rng: () => number, lo: number, hi: number) => lo + Math.floor(rng() * (hi - lo + 1));

/**
 * The transform of epoch `epoch` (0-based) for images of `shape` [H, W, C]. It rewrites each
 * example in place; `scratch` space is its own, so one transform serves one thread.
 */
export function augmentTransform(a: AugmentConfig, shape: readonly number[], seed: number, epoch: number): ExampleTransform {
  const [h, w, c] = shape as [number, number, number];
  const epochSeed = deriveSeed(seed, `augment-${epoch}`);
  let scratch: ExampleArray | null = null;
  /** out[y, x] = in[pixel src(y, x)], or 0 where src is -1 (outside the image); then copied back into `row`. */
  const remap = (row: ExampleArray, src: (y: number, x: number) => number) => {
    const tmp = (scratch ??= row instanceof Uint8Array ? new Uint8Array(row.length) : new Float32Array(row.length));
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const at = (y * w + x) * c;
        const from = src(y, x) * c;
        for (let k = 0; k < c; k++) tmp[at + k] = from < 0 ? 0 : row[from + k];
      }
    }
    row.set(tmp);
  };
  return (row, example) => {
    const rng = createRng(exampleSeed(epochSeed, example));
    // Every draw is made whether or not its augmentation is on, so turning one on never changes another's.
    const t = a.translate ?? 0;
    const ty = between(rng, -t, t);
    const tx = between(rng, -t, t);
    const p = a.crop ?? 0;
    const cy = between(rng, 0, 2 * p) - p;
    const cx = between(rng, 0, 2 * p) - p;
    const mirror = rng() < 0.5;
    const clamp = (v: number, n: number) => (v < 0 ? 0 : v >= n ? n - 1 : v);
    if (ty !== 0 || tx !== 0) remap(row, (y, x) => clamp(y - ty, h) * w + clamp(x - tx, w));
    if (cy !== 0 || cx !== 0) {
      remap(row, (y, x) => {
        const sy = y + cy;
        const sx = x + cx;
        return sy < 0 || sy >= h || sx < 0 || sx >= w ? -1 : sy * w + sx;
      });
    }
    if (a.flip && mirror) remap(row, (y, x) => y * w + (w - 1 - x));
  };
}
