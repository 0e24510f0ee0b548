/**
 * The networks of docs/architectures/ (MLPerf Tiny's ResNet-8 and a DS-CNN), read through
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

export const ARCHITECTURES = path.resolve(import.meta.dirname, '../../docs/architectures');

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
 * n images of `shape` in [0, 1] for `classes` classes: class k is a stripe pattern of its own
 * orientation and frequency at a random phase, plus noise. Networks that end in a global average
 * (ResNet-8's 8x8 pool, the DS-CNN's) cannot tell where something is, only what texture it has,
 * so the classes differ in texture.
 */
export function stripeImages(n: number, shape: [number, number, number], classes: number, seed: number): { images: Float32Array; labels: Uint8Array } {
  const [h, w, c] = shape;
  const rng = createRng(seed);
  const angles = Math.ceil(classes / 2);
  const images = new Float32Array(n * h * w * c);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const k = i % classes;
    labels[i] = k;
    const theta = ((k % angles) * Math.PI) / angles;
    const freq = 2 * Math.PI * (k < angles ? 0.12 : 0.3);
    const [fy, fx] = [freq * Math.sin(theta), freq * Math.cos(theta)];
    const phase = 2 * Math.PI * rng();
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const v = 0.5 + 0.35 * Math.sin(fy * y + fx * x + phase);
        for (let ch = 0; ch < c; ch++) images[((i * h + y) * w + x) * c + ch] = Math.min(1, Math.max(0, v + 0.15 * (rng() - 0.5)));
      }
    }
  }
  return { images, labels };
}
