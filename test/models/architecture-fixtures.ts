/**
 * The networks of test/fixtures/architectures/ (MLPerf Tiny's ResNet-8 and a DS-CNN), read through
 * kdq's own loader steps (extends chain, schema, defaults), and small synthetic data of their input
 * shapes that a few epochs learn.
 */
import path from 'node:path';
import { readExperimentSource } from '../../src/config/load.ts';
import { deepMerge } from '../../src/config/merge.ts';
import { resolveDefaults } from '../../src/config/defaults.ts';
import { checkExperimentSchema } from '../../src/config/schema.ts';
import type { Experiment } from '../../src/config/types.ts';
import { createRng } from '../../src/util/random.ts';

export const ARCHITECTURES = path.resolve(import.meta.dirname, '../fixtures/architectures');

/**
 * The experiment of `file` (its extends chain merged) after the schema and defaults, without the
 * semantic checks: those infer shapes for MNIST's 28x28x1 until the data's own shape reaches them.
 */
export async function architecture(file: string): Promise<{ experiment: Experiment; schemaErrors: number }> {
  const { chain } = await readExperimentSource(path.join(ARCHITECTURES, file));
  let merged: unknown = {};
  for (const c of [...chain].reverse()) {
    const { extends: _base, ...rest } = c.doc;
    merged = deepMerge(merged, rest);
  }
  return { experiment: resolveDefaults(merged), schemaErrors: checkExperimentSchema(merged).length };
}

/** ResNet-8's input (CIFAR-10) and the DS-CNN's (49 MFCC frames x 10 coefficients). */
export const RESNET_INPUT: [number, number, number] = [32, 32, 3];
export const DSCNN_INPUT: [number, number, number] = [49, 10, 1];

/**
 * n images of `shape` in [0, 1] for `classes` classes: class k is a brighter block at its own place
 * (a grid cell of the image) on a noisy background, tinted per channel so color carries signal too.
 */
export function blockImages(n: number, shape: [number, number, number], classes: number, seed: number): { images: Float32Array; labels: Uint8Array } {
  const [h, w, c] = shape;
  const rng = createRng(seed);
  const cols = Math.ceil(Math.sqrt(classes));
  const rows = Math.ceil(classes / cols);
  const images = new Float32Array(n * h * w * c);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const k = i % classes;
    labels[i] = k;
    const [r0, r1] = [Math.floor((Math.floor(k / cols) * h) / rows), Math.floor(((Math.floor(k / cols) + 1) * h) / rows)];
    const [c0, c1] = [Math.floor(((k % cols) * w) / cols), Math.floor((((k % cols) + 1) * w) / cols)];
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const inBlock = y >= r0 && y < r1 && x >= c0 && x < c1;
        for (let ch = 0; ch < c; ch++) {
          const tint = 0.5 + 0.5 * (((k + ch) % 3) / 2);
          images[((i * h + y) * w + x) * c + ch] = inBlock ? 0.5 + 0.5 * tint * rng() : 0.4 * rng();
        }
      }
    }
  }
  return { images, labels };
}
