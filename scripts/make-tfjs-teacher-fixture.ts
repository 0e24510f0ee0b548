/**
 * Makes the TF.js and .tflite teacher fixtures: a small CNN built and trained with tf.js on MNIST
 * (as a user of TF.js would, ending in a softmax dense layer), saved by tf.js' model.save as
 * model.json and two weight shards, and the same model written as a float32 .tflite by kdq's own
 * exporter. Writes test/fixtures/teachers/tfjs-cnn/, test/fixtures/teachers/cnn.tflite and
 * test/fixtures/teachers/tfjs-fixtures.json (accuracies and the first test images' outputs).
 *
 *   npx tsx scripts/make-tfjs-teacher-fixture.ts
 */
import * as tf from '@tensorflow/tfjs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { initBackend } from '../src/backend/index.ts';
import { inputsOf, loadDataset } from '../src/data/dataset.ts';
import { sha256Hex } from '../src/util/hash.ts';
import { exportTflite } from '../src/tflite/export.ts';
import { saveLayersModel } from '../src/teacher/tfjs-files.ts';
import { writeFileAtomic } from '../src/util/atomic.ts';

const OUT = join(import.meta.dirname, '..', 'test', 'fixtures', 'teachers');
const SEED = 11;
/** Small enough that the 21 KB of weights are split in two shards, as the converter splits large models. */
const SHARD_BYTES = 16 * 1024;

function build(): tf.Sequential {
  const init = (k: number) => tf.initializers.glorotUniform({ seed: SEED + k });
  return tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 8, kernelSize: 3, activation: 'relu', kernelInitializer: init(1), name: 'conv1' }),
      tf.layers.maxPooling2d({ poolSize: 2, name: 'pool1' }),
      tf.layers.conv2d({ filters: 16, kernelSize: 3, activation: 'relu', kernelInitializer: init(2), name: 'conv2' }),
      tf.layers.maxPooling2d({ poolSize: 2, name: 'pool2' }),
      tf.layers.flatten({ name: 'flatten' }),
      tf.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: init(3), name: 'probabilities' }),
    ],
  });
}

function round(values: Float32Array, places: number): number[] {
  return Array.from(values, (v) => Number(v.toFixed(places)));
}

async function main(): Promise<void> {
  const backend = await initBackend('wasm');
  const ds = await loadDataset({ source: 'mnist', trainLimit: null, testLimit: null, validationSplit: 0 }, { baseDir: process.cwd(), seed: 1 });
  // Pixels / 255 as floats, the labels as bytes: what kdq's dataset held when the fixture was made.
  const data = {
    trainImages: inputsOf(ds, ds.train).range(0, ds.train.count),
    trainLabels: Uint8Array.from(ds.train.y),
    testImages: inputsOf(ds, ds.test).range(0, ds.test.count),
    testLabels: Uint8Array.from(ds.test.y),
  };
  const model = build();
  model.compile({ optimizer: tf.train.adam(3e-3), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  const x = tf.tensor4d(data.trainImages, [data.trainLabels.length, 28, 28, 1]);
  const y = tf.tensor1d(Float32Array.from(data.trainLabels));
  // No shuffling: tf.js shuffles with Math.random, and the fixture should be the same on every run.
  await model.fit(x, y, { epochs: 1, batchSize: 64, shuffle: false, verbose: 0 });
  x.dispose();
  y.dispose();

  const testX = tf.tensor4d(data.testImages, [data.testLabels.length, 28, 28, 1]);
  const probs = model.predict(testX, { batchSize: 500 }) as tf.Tensor2D;
  const predicted = (await probs.argMax(1).data()) as Int32Array;
  let correct = 0;
  predicted.forEach((p, i) => (correct += p === data.testLabels[i] ? 1 : 0));
  const first8 = ((await probs.data()) as Float32Array).slice(0, 80);
  testX.dispose();
  probs.dispose();

  const dir = join(OUT, 'tfjs-cnn');
  await mkdir(dir, { recursive: true });
  await saveLayersModel(model, dir, { shardBytes: SHARD_BYTES });
  const { bytes } = exportTflite(model, { mode: 'float32', inputShape: [28, 28, 1] });
  await writeFileAtomic(join(OUT, 'cnn.tflite'), bytes);
  const summary = {
    made_by: 'scripts/make-tfjs-teacher-fixture.ts',
    tfjs: tf.version.tfjs,
    backend: backend.name,
    preprocessing: 'pixels / 255 in [0, 1], no normalization',
    params: model.countParams(),
    training: { images: data.trainLabels.length, epochs: 1, batch: 64, optimizer: 'adam 3e-3', seed: SEED, shuffle: false },
    tfjs_test: { images: data.testLabels.length, correct, accuracy: correct / data.testLabels.length },
    'tfjs-cnn/model.json': { output: 'probabilities (dense softmax)', shard_bytes: SHARD_BYTES, first8_probabilities: round(first8, 7) },
    'cnn.tflite': { what: 'the same model exported by src/tflite/export.ts, float32, ends in SOFTMAX', bytes: bytes.length, sha256: sha256Hex(bytes) },
  };
  await writeFileAtomic(join(OUT, 'tfjs-fixtures.json'), JSON.stringify(summary, null, 2) + '\n');
  console.log(`tf.js teacher: ${correct}/${data.testLabels.length} correct, ${model.countParams()} params, .tflite ${bytes.length} bytes`);
}

await main();
