/**
 * ONNX teachers exported by PyTorch (test/fixtures/teachers, scripts/make-teacher-fixtures.py),
 * run through openTeacher in onnxruntime-node: the outputs PyTorch recorded, layouts, fixed and
 * dynamic batches, external data, per-channel preprocessing, and every bad input.
 */
import * as tf from '@tensorflow/tfjs';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SOFT_LOSS_REGISTRY } from '../../src/models/losses.ts';
import { openTeacher, type Teacher } from '../../src/teacher/index.ts';
import { accuracyOf, fixture, maxDiff, MNIST, mnistTest, PYTORCH, rejection } from './fixtures.ts';

let test: { images: Float32Array; labels: Uint8Array };
let tmp: string;
beforeAll(async () => {
  await tf.setBackend('cpu');
  test = await mnistTest();
  tmp = await mkdtemp(join(tmpdir(), 'kdq-onnx-teacher-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const first = (n: number): Float32Array => test.images.subarray(0, n * 784);

async function withTeacher<T>(path: string, opts: Partial<Parameters<typeof openTeacher>[1]>, use: (t: Teacher) => Promise<T>): Promise<T> {
  const t = await openTeacher(path, { data: MNIST, ...opts });
  try {
    return await use(t);
  } finally {
    t.close();
  }
}

function logSoftmaxRows(rows: number[][]): number[] {
  return rows.flatMap((r) => {
    const m = Math.max(...r);
    const lse = m + Math.log(r.reduce((s, v) => s + Math.exp(v - m), 0));
    return r.map((v) => v - lse);
  });
}

describe('an ONNX teacher exported by PyTorch (logits, dynamic batch)', () => {
  it('describes itself: format, files with sha256, shape, classes, params, output kind, runtime', async () => {
    await withTeacher(fixture('cnn-logits.onnx'), {}, async (t) => {
      expect(t.format).toBe('onnx');
      expect(t.files).toEqual([
        {
          path: fixture('cnn-logits.onnx'),
          name: 'cnn-logits.onnx',
          bytes: PYTORCH.files['cnn-logits.onnx']!.bytes,
          sha256: PYTORCH.files['cnn-logits.onnx']!.sha256,
        },
      ]);
      expect(t.inputShape).toEqual([28, 28, 1]);
      expect(t.classes).toBe(10);
      expect(t.params).toBe(5258);
      expect(t.outputKind).toBe('logits');
      expect(t.outputKindReason).toMatch(/ends in Gemm node/);
      expect(t.settings).toEqual({ inputLayout: 'nchw', output: 'auto', scale: 1, mean: [0], std: [1] });
      expect(t.runtime).toMatch(/^onnxruntime-node 1\.31\.\d+$/);
    });
  });

  it('computes the logits PyTorch computed for the first 8 test images (within 1e-4)', async () => {
    const logits = await withTeacher(fixture('cnn-logits.onnx'), {}, (t) => t.logits(first(8), 8));
    expect(maxDiff(logits, PYTORCH.files['cnn-logits.onnx']!.first8_logits!.flat())).toBeLessThan(1e-4);
  });

  it('classifies the 10,000 test images as PyTorch did: the same accuracy to 0.1 points, in batches with progress', async () => {
    const seen: number[] = [];
    const logits = await withTeacher(fixture('cnn-logits.onnx'), { batchSize: 1000 }, (t) => t.logits(test.images, 10_000, (done) => seen.push(done)));
    expect(seen).toEqual([1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 10000]);
    const { accuracy } = accuracyOf(logits, test.labels, 10);
    expect(Math.abs(accuracy - PYTORCH.files['cnn-logits.onnx']!.test_accuracy!)).toBeLessThanOrEqual(0.001);
  });

  it('gives the same logits on 2 operator threads as on 1', async () => {
    const one = await withTeacher(fixture('cnn-logits.onnx'), {}, (t) => t.logits(first(64), 64));
    const two = await withTeacher(fixture('cnn-logits.onnx'), { threads: 2 }, (t) => t.logits(first(64), 64));
    expect(maxDiff(one, two)).toBe(0);
    expect((await rejection(openTeacher(fixture('cnn-logits.onnx'), { data: MNIST, threads: 0 }))).code).toBe('E_CONFIG');
  });

  it('refuses images of the wrong count and use after close', async () => {
    const t = await openTeacher(fixture('cnn-logits.onnx'), { data: MNIST });
    expect((await rejection(t.logits(first(2), 3))).message).toMatch(/got 1568 values for 3 images of 784/);
    t.close();
    t.close();
    expect((await rejection(t.logits(first(1), 1))).message).toMatch(/was closed/);
  });
});

describe('a teacher ending in softmax, exported with a fixed batch of 1', () => {
  it("is detected from the graph and returns log-probabilities: PyTorch's logits less a constant per row", async () => {
    const seen: number[] = [];
    await withTeacher(fixture('cnn-softmax-batch1.onnx'), {}, async (t) => {
      expect(t.outputKind).toBe('probabilities');
      expect(t.outputKindReason).toMatch(/ends in Softmax node/);
      const logp = await t.logits(first(8), 8, (done) => seen.push(done));
      expect(maxDiff(logp, logSoftmaxRows(PYTORCH.files['cnn-logits.onnx']!.first8_logits!))).toBeLessThan(1e-4);
    });
    expect(seen).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('gives the same KD loss as the logits teacher at every temperature (softmax is invariant to a constant per row)', async () => {
    const n = 64;
    const logits = await withTeacher(fixture('cnn-logits.onnx'), {}, (t) => t.logits(first(n), n));
    const logp = await withTeacher(fixture('cnn-softmax-batch1.onnx'), {}, (t) => t.logits(first(n), n));
    const student = tf.randomNormal([n, 10], 0, 3, 'float32', 7) as tf.Tensor2D;
    for (const temperature of [1, 2, 4, 10, 20]) {
      const kd = (teacher: Float32Array) =>
        SOFT_LOSS_REGISTRY.kl({ student, teacher: tf.tensor2d(teacher, [n, 10]), temperature, temperatureSquared: true }).dataSync()[0]!;
      const a = kd(logits);
      const b = kd(logp);
      expect(Math.abs(a - b) / a, `T=${temperature}: ${a} vs ${b}`).toBeLessThan(1e-4);
    }
  });

  it('refuses output: logits, which would soften probabilities as if they were logits', async () => {
    const err = await rejection(openTeacher(fixture('cnn-softmax-batch1.onnx'), { data: MNIST, output: 'logits' }));
    expect(err.code).toBe('E_TEACHER');
    expect(err.message).toMatch(/cnn-softmax-batch1\.onnx': output is logits but the graph ends in Softmax.*set output: probabilities or auto/);
  });

  it('refuses output: probabilities on a model whose outputs are not probabilities', async () => {
    const err = await rejection(openTeacher(fixture('cnn-logits.onnx'), { data: MNIST, output: 'probabilities' }));
    expect(err.message).toMatch(/cnn-logits\.onnx' is taken to output probabilities.*set output: logits/);
  });
});

describe('layouts and input forms', () => {
  it("runs an NHWC-input model with inputLayout: nhwc, giving the NCHW model's logits", async () => {
    const a = await withTeacher(fixture('cnn-logits.onnx'), {}, (t) => t.logits(first(16), 16));
    const b = await withTeacher(fixture('cnn-nhwc.onnx'), { inputLayout: 'nhwc' }, (t) => t.logits(first(16), 16));
    expect(maxDiff(a, b)).toBeLessThan(1e-5);
  });

  it('runs a model on flattened images ([batch, 784]) as PyTorch did', async () => {
    const logits = await withTeacher(fixture('mlp-flat.onnx'), {}, (t) => t.logits(first(8), 8));
    expect(maxDiff(logits, PYTORCH.files['mlp-flat.onnx']!.first8_logits!.flat())).toBeLessThan(1e-4);
  });

  it('applies per-channel mean and std and transposes 3 channels to NCHW exactly as PyTorch did', async () => {
    const rec = PYTORCH.files['rgb-tiny.onnx']!;
    const images = Float32Array.from({ length: 3 * 4 * 4 * 3 }, (_, i) => ((i * 37) % 256) / 255);
    const data = { imageShape: [4, 4, 3] as [number, number, number], classes: 10 };
    const nchw = await openTeacher(fixture('rgb-tiny.onnx'), { data, mean: rec.mean, std: rec.std });
    const nhwc = await openTeacher(fixture('rgb-tiny-nhwc.onnx'), { data, mean: rec.mean, std: rec.std, inputLayout: 'nhwc' });
    try {
      expect(maxDiff(await nchw.logits(images, 3), rec.pattern_logits!.flat())).toBeLessThan(1e-4);
      expect(maxDiff(await nhwc.logits(images, 3), rec.pattern_logits!.flat())).toBeLessThan(1e-4);
    } finally {
      nchw.close();
      nhwc.close();
    }
  });

  it('reads weights kept in an external data file, and lists that file with its sha256', async () => {
    const a = await withTeacher(fixture('cnn-logits.onnx'), {}, (t) => t.logits(first(8), 8));
    await withTeacher(fixture('cnn-external.onnx'), {}, async (t) => {
      expect(t.files.map((f) => f.name)).toEqual(['cnn-external.onnx', 'cnn-external.weights']);
      expect(t.files[1]!.sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(maxDiff(await t.logits(first(8), 8), a)).toBeLessThan(1e-6);
    });
  });
});

describe('bad teachers: each a KdqError E_TEACHER (exit 2) naming the file, before any use', () => {
  async function expectTeacherError(path: string, opts: Partial<Parameters<typeof openTeacher>[1]>, pattern: RegExp): Promise<void> {
    const err = await rejection(openTeacher(path, { data: MNIST, ...opts }));
    expect(err.code).toBe('E_TEACHER');
    expect(err.exitCode).toBe(2);
    expect(err.message).toContain(`'${path}'`);
    expect(err.message).toMatch(pattern);
  }

  it('an NHWC model under the default NCHW layout: says to set inputLayout: nhwc', async () => {
    await expectTeacherError(
      fixture('cnn-nhwc.onnx'),
      {},
      /takes input \[batch, 28, 28, 1\], which is NHWC .* inputLayout is nchw \(the default for this format\); set inputLayout: nhwc$/,
    );
  });

  it('an NCHW model under inputLayout: nhwc: says to set inputLayout: nchw', async () => {
    await expectTeacherError(fixture('cnn-logits.onnx'), { inputLayout: 'nhwc' }, /takes input \[batch, 1, 28, 28\], which is NCHW .*; set inputLayout: nchw$/);
  });

  it('a model for 32x32 images: names both shapes', async () => {
    await expectTeacherError(fixture('cnn-32x32.onnx'), {}, /takes input \[batch, 1, 32, 32\]: NCHW images of 32x32x1, but the data's images are 28x28x1/);
  });

  it('a five-class model: names both class counts', async () => {
    await expectTeacherError(fixture('cnn-5-classes.onnx'), {}, /outputs 5 classes but the data has 10 \(labels 0-9\)/);
  });

  it('an operator ONNX Runtime cannot run (the runtime is asked): names it and how to re-export', async () => {
    await expectTeacherError(
      fixture('cnn-aten-op.onnx'),
      {},
      /onnxruntime-node 1\.31\.\d+ cannot run .*ATen.*operators outside the ONNX standard: org\.pytorch\.aten:ATen .*without ONNX_ATEN_FALLBACK/,
    );
  });

  it('a truncated file: says so, at several lengths', async () => {
    const bytes = await readFile(fixture('cnn-logits.onnx'));
    for (const n of [1, 100, bytes.length >> 1, bytes.length - 1]) {
      const path = join(tmp, `truncated-${n}.onnx`);
      await writeFile(path, bytes.subarray(0, n));
      await expectTeacherError(path, {}, /truncated or corrupt/);
    }
  });

  it("a corrupt file (garbage over the graph's start): refused by kdq's reader or the runtime", async () => {
    const bytes = Buffer.from(await readFile(fixture('cnn-logits.onnx')));
    bytes.fill(0xff, 40, 72);
    const path = join(tmp, 'corrupt.onnx');
    await writeFile(path, bytes);
    await expectTeacherError(path, {}, /corrupt/);
  });

  it('a missing file, and external weights left behind when the model was copied', async () => {
    await expectTeacherError(join(tmp, 'absent.onnx'), {}, /does not exist/);
    const lone = join(tmp, 'cnn-external.onnx');
    await copyFile(fixture('cnn-external.onnx'), lone);
    const err = await rejection(openTeacher(lone, { data: MNIST }));
    expect(err.code).toBe('E_TEACHER');
    expect(err.message).toMatch(/external weights of teacher model '.*cnn-external\.onnx': '.*cnn-external\.weights' does not exist/);
  });

  it('settings that do not fit the data are E_CONFIG naming the key', async () => {
    const err = await rejection(openTeacher(fixture('cnn-logits.onnx'), { data: MNIST, mean: [0.1, 0.2, 0.3] }));
    expect(err.code).toBe('E_CONFIG');
    expect(err.message).toMatch(/mean has 3 values but the images have 1 channel/);
  });
});
