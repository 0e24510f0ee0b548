/**
 * A TF.js LayersModel teacher saved by tf.js (model.json and two shards, made by
 * scripts/make-tfjs-teacher-fixture.ts): outputs, the exposed model, and every bad input.
 */
import * as tf from '@tensorflow/tfjs';
import { cp, mkdtemp, readFile, rm, truncate, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.ts';
import { openTeacher, saveLayersModel, type TfjsTeacher } from '../../src/teacher/index.ts';
import { accuracyOf, fixture, maxDiff, MNIST, mnistTest, rejection, TFJS } from './fixtures.ts';

let test: { images: Float32Array; labels: Uint8Array };
let tmp: string;
beforeAll(async () => {
  await initBackend('wasm');
  test = await mnistTest(1000);
  tmp = await mkdtemp(join(tmpdir(), 'kdq-tfjs-teacher-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const MODEL = fixture('tfjs-cnn/model.json');

/** A copy of the fixture's folder that a test may damage. */
async function copyModel(name: string): Promise<string> {
  const dir = join(tmp, name);
  await cp(fixture('tfjs-cnn'), dir, { recursive: true });
  return join(dir, 'model.json');
}

describe('a TF.js LayersModel teacher', () => {
  it('lists model.json and both shards, detects the softmax layer, counts params, exposes the model', async () => {
    const t = (await openTeacher(MODEL, { data: MNIST })) as TfjsTeacher;
    try {
      expect(t.format).toBe('tfjs-layers');
      expect(t.files.map((f) => [f.name, f.bytes])).toEqual([
        ['model.json', expect.any(Number)],
        ['group1-shard1of2.bin', 16384],
        ['group1-shard2of2.bin', 5258 * 4 - 16384],
      ]);
      expect(t.settings.inputLayout).toBe('nhwc');
      expect(t.outputKind).toBe('probabilities');
      expect(t.outputKindReason).toBe('the output layer "probabilities" (Dense) has activation softmax');
      expect(t.params).toBe(TFJS.params);
      expect(t.model).toBeInstanceOf(tf.LayersModel);
      expect(t.runtime).toMatch(/^@tensorflow\/tfjs 4\.22\.0 \(wasm backend\)$/);
    } finally {
      t.close();
    }
  });

  it('returns the log of the probabilities tf.js recorded when it saved the model', async () => {
    const t = await openTeacher(MODEL, { data: MNIST });
    try {
      const logp = await t.logits(test.images.subarray(0, 8 * 784), 8);
      const recorded = TFJS['tfjs-cnn/model.json'].first8_probabilities;
      expect(maxDiff(logp.map(Math.exp), recorded)).toBeLessThan(1e-5);
      const { correct } = accuracyOf(await t.logits(test.images, 1000), test.labels, 10);
      expect(correct).toBeGreaterThan(950);
    } finally {
      t.close();
    }
  });

  it('saveLayersModel writes a folder that opens to the same outputs (a fine-tuned teacher can be saved)', async () => {
    const t = (await openTeacher(MODEL, { data: MNIST })) as TfjsTeacher;
    const dir = join(tmp, 'resaved');
    try {
      await saveLayersModel(t.model, dir);
      const again = await openTeacher(join(dir, 'model.json'), { data: MNIST });
      const images = test.images.subarray(0, 4 * 784);
      expect(again.files.map((f) => f.name)).toEqual(['model.json', 'group1-shard1of1.bin']);
      expect(maxDiff(await again.logits(images, 4), await t.logits(images, 4))).toBe(0);
      again.close();
    } finally {
      t.close();
    }
  });
});

describe('bad TF.js teachers: E_TEACHER (exit 2) naming the file', () => {
  it('a missing shard names the shard', async () => {
    const path = await copyModel('missing');
    await unlink(join(tmp, 'missing', 'group1-shard2of2.bin'));
    const err = await rejection(openTeacher(path, { data: MNIST }));
    expect([err.code, err.exitCode]).toEqual(['E_TEACHER', 2]);
    expect(err.message).toMatch(/weight shard of teacher model '.*model\.json': '.*group1-shard2of2\.bin' does not exist/);
  });

  it('a truncated shard: the sizes do not add up to the manifest', async () => {
    const path = await copyModel('short');
    await truncate(join(tmp, 'short', 'group1-shard2of2.bin'), 100);
    const err = await rejection(openTeacher(path, { data: MNIST }));
    expect(err.code).toBe('E_TEACHER');
    expect(err.message).toMatch(/group1-shard2of2\.bin: 100 bytes\) hold 16484 bytes but its weightsManifest lists 21032; a shard is truncated/);
  });

  it('a truncated model.json is not valid JSON', async () => {
    const path = await copyModel('cut');
    await truncate(path, 500);
    const err = await rejection(openTeacher(path, { data: MNIST }));
    expect(err.code).toBe('E_TEACHER');
    expect(err.message).toMatch(/model\.json' is not valid JSON .*truncated or corrupt/);
  });

  it('a layer class tf.js does not implement (a custom Keras layer) is named', async () => {
    const path = await copyModel('custom');
    const json = (await readFile(path, 'utf8')).replace('"class_name":"Flatten"', '"class_name":"MyCustomFlatten"');
    await writeFile(path, json);
    const err = await rejection(openTeacher(path, { data: MNIST }));
    expect(err.code).toBe('E_TEACHER');
    expect(err.message).toMatch(/tf\.js 4\.22\.0 cannot build teacher model .*MyCustomFlatten.*a layer tf\.js does not implement/);
  });

  it('a TF.js graph model is refused with how to convert instead', async () => {
    const path = join(tmp, 'graph-model.json');
    await writeFile(path, JSON.stringify({ format: 'graph-model', modelTopology: { node: [] }, weightsManifest: [] }));
    const err = await rejection(openTeacher(path, { data: MNIST }));
    expect(err.message).toMatch(/is a TF\.js graph model .*tfjs_layers_model/);
  });

  it('wrong class count, wrong image size and inputLayout: nchw are each named', async () => {
    expect((await rejection(openTeacher(MODEL, { data: { imageShape: [28, 28, 1], classes: 5 } }))).message).toMatch(/outputs 10 classes but the data has 5/);
    expect((await rejection(openTeacher(MODEL, { data: { imageShape: [32, 32, 1], classes: 10 } }))).message).toMatch(
      /takes input \[batch, 28, 28, 1\]: NHWC images of 28x28x1, but the data's images are 32x32x1/,
    );
    expect((await rejection(openTeacher(MODEL, { data: MNIST, inputLayout: 'nchw' }))).message).toMatch(/which is NHWC .*; set inputLayout: nhwc$/);
  });
});

describe('a TF.js teacher as a network with logits out (to fine-tune or export it)', () => {
  it('makes the final softmax activation linear: the same probabilities after a softmax', async () => {
    const { loadTfjsLogitsModel } = await import('../../src/teacher/tfjs.ts');
    const { model, softmaxRemoved } = await loadTfjsLogitsModel(MODEL);
    const t = await openTeacher(MODEL, { data: MNIST });
    try {
      expect(softmaxRemoved).toBe('the softmax of layer "probabilities" (Dense)');
      const x = test.images.subarray(0, 16 * 784);
      const logits = tf.tidy(() => tf.softmax(model.predict(tf.tensor4d(x, [16, 28, 28, 1])) as tf.Tensor2D).dataSync() as Float32Array);
      const logp = await t.logits(x, 16);
      expect(maxDiff(logits, logp.map(Math.exp))).toBeLessThan(1e-5);
      expect(model.countParams()).toBe(TFJS.params);
    } finally {
      model.dispose();
      t.close();
    }
  });

  it('replaces a Softmax layer by a linear activation, and leaves a logits model as it is', async () => {
    const { loadTfjsLogitsModel } = await import('../../src/teacher/tfjs.ts');
    const withLayer = tf.sequential({
      layers: [
        tf.layers.flatten({ inputShape: [28, 28, 1], name: 'flat' }),
        tf.layers.dense({ units: 10, name: 'scores' }),
        tf.layers.softmax({ name: 'probs' }),
      ],
    });
    const dir = join(tmp, 'softmax-layer');
    await saveLayersModel(withLayer, dir);
    const { model, softmaxRemoved } = await loadTfjsLogitsModel(join(dir, 'model.json'));
    try {
      expect(softmaxRemoved).toBe('the softmax of layer "probs" (Softmax)');
      expect(model.layers.map((l) => l.getClassName())).toEqual(['Flatten', 'Dense', 'Activation']);
      const x = tf.tensor4d(test.images.subarray(0, 4 * 784), [4, 28, 28, 1]);
      expect(
        maxDiff((model.predict(x) as tf.Tensor).dataSync(), (withLayer.layers[1]!.apply(withLayer.layers[0]!.apply(x)) as tf.Tensor).dataSync()),
      ).toBeLessThan(1e-6);
      x.dispose();
    } finally {
      model.dispose();
    }
    const logitsDir = join(tmp, 'logits-model');
    await saveLayersModel(tf.sequential({ layers: [tf.layers.flatten({ inputShape: [28, 28, 1] }), tf.layers.dense({ units: 10 })] }), logitsDir);
    const plain = await loadTfjsLogitsModel(join(logitsDir, 'model.json'));
    expect(plain.softmaxRemoved).toBeNull();
    plain.model.dispose();
    withLayer.dispose();
  });
});
