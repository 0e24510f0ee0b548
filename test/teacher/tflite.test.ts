/**
 * A .tflite teacher written by kdq's exporter (test/fixtures/teachers/cnn.tflite, the TF.js
 * fixture exported float32 by scripts/make-tfjs-teacher-fixture.ts), run in LiteRT.js.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTeacher } from '../../src/teacher/index.ts';
import { readTflite } from '../../src/tflite/reader.ts';
import { writeTflite } from '../../src/tflite/writer.ts';
import { fixture, maxDiff, MNIST, mnistTest, rejection, TFJS } from './fixtures.ts';

let test: { images: Float32Array; labels: Uint8Array };
let tmp: string;
beforeAll(async () => {
  test = await mnistTest(16);
  tmp = await mkdtemp(join(tmpdir(), 'kdq-tflite-teacher-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const MODEL = fixture('cnn.tflite');

describe('a .tflite teacher', () => {
  it('detects the final SOFTMAX, counts the weights, and computes what tf.js computed', async () => {
    const seen: number[] = [];
    const t = await openTeacher(MODEL, { data: MNIST });
    try {
      expect(t.format).toBe('tflite');
      expect(t.files.map((f) => f.name)).toEqual(['cnn.tflite']);
      expect(t.outputKind).toBe('probabilities');
      expect(t.outputKindReason).toMatch(/^the file ends in SOFTMAX/);
      expect(t.params).toBe(TFJS.params);
      expect(t.runtime).toMatch(/^@litertjs\/core /);
      const logp = await t.logits(test.images.subarray(0, 8 * 784), 8, (done) => seen.push(done));
      expect(maxDiff(logp.map(Math.exp), TFJS['tfjs-cnn/model.json'].first8_probabilities)).toBeLessThan(1e-5);
      expect(seen).toEqual([8]);
    } finally {
      t.close();
    }
  });
});

describe('bad .tflite teachers: E_TEACHER (exit 2) naming the file', () => {
  it('a truncated file, at several lengths', async () => {
    const bytes = await readFile(MODEL);
    for (const n of [12, 1000, bytes.length >> 1, bytes.length - 8]) {
      const path = join(tmp, `cut-${n}.tflite`);
      await writeFile(path, bytes.subarray(0, n));
      const err = await rejection(openTeacher(path, { data: MNIST }));
      expect([err.code, err.exitCode], `${n} bytes`).toEqual(['E_TEACHER', 2]);
      expect(err.message).toContain(`'${path}'`);
    }
  });

  it('an operator LiteRT does not implement (SOFTMAX version 99, as a newer converter might write): the runtime names it', async () => {
    const model = readTflite(new Uint8Array(await readFile(MODEL)));
    model.operators[model.operators.length - 1]!.version = 99;
    const path = join(tmp, 'softmax-v99.tflite');
    await writeFile(path, writeTflite(model));
    const err = await rejection(openTeacher(path, { data: MNIST }));
    expect([err.code, err.exitCode]).toEqual(['E_TEACHER', 2]);
    expect(err.message).toMatch(/cannot load teacher model '.*softmax-v99\.tflite'.*Didn't find op for builtin opcode 'SOFTMAX' version '99'/);
  });

  it('wrong class count, wrong image size and inputLayout: nchw are each named', async () => {
    expect((await rejection(openTeacher(MODEL, { data: { imageShape: [28, 28, 1], classes: 26 } }))).message).toMatch(
      /cnn\.tflite' outputs 10 classes but the data has 26/,
    );
    expect((await rejection(openTeacher(MODEL, { data: { imageShape: [28, 28, 3], classes: 10 } }))).message).toMatch(
      /takes input \[1, 28, 28, 1\]: NHWC images of 28x28x1, but the data's images are 28x28x3/,
    );
    expect((await rejection(openTeacher(MODEL, { data: MNIST, inputLayout: 'nchw' }))).message).toMatch(/; set inputLayout: nhwc$/);
  });
});
