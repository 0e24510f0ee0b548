/**
 * Issue 18's "done when": a 5-class IDX set, a 3-channel 32x32 set (CIFAR-10's binary format),
 * an image folder and a CSV table each validate, run end to end, and export an int8 .tflite file
 * that LiteRT.js, run here on its own, scores at exactly the accuracy metrics.json reports.
 * The data is made here, small and learnable: each class has its own bright patch (images) or
 * its own column means (the wine table is real).
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../src/api.ts';
import { main } from '../../src/cli.ts';
import { loadExperiment } from '../../src/config/load.ts';
import { inputsOf, loadDataset } from '../../src/data/dataset.ts';
import type { Metrics } from '../../src/report/metrics.ts';
import { readTflite } from '../../src/tflite/reader.ts';
import { evaluateTflite } from '../../src/tflite/runtime/index.ts';
import { sink } from '../capture.ts';
import { idx, tempDir } from '../data/formats/fixtures.ts';
import { png } from '../data/formats/image-fixtures.ts';
import { createRng } from '../../src/util/random.ts';
import * as imageDecode from '../../src/data/formats/image-decode.ts';

// Counts image decodes, to prove that stages after the data stage read its entry instead.
vi.mock('../../src/data/formats/image-decode.ts', async (original) => {
  const m = await original<typeof import('../../src/data/formats/image-decode.ts')>();
  return { ...m, sharpDecoder: vi.fn(m.sharpDecoder) };
});

const WINE = join(import.meta.dirname, '..', '..', 'data', 'wine', 'wine.csv');
let dir: string;
let cleanup: () => Promise<void>;

/**
 * `count` HWC images of class `label(n)`: dim noise everywhere and a bright patch (and, with
 * several channels, a bright channel) that depend on the class.
 */
function patterned(count: number, h: number, w: number, c: number, classes: number, label: (n: number) => number, seed: number): Uint8Array {
  const rng = createRng(seed);
  const out = new Uint8Array(count * h * w * c);
  const cols = Math.ceil(Math.sqrt(classes));
  const ph = Math.floor(h / cols);
  const pw = Math.floor(w / cols);
  for (let n = 0; n < count; n++) {
    const k = label(n);
    const [py, px] = [Math.floor(k / cols) * ph, (k % cols) * pw];
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        for (let ch = 0; ch < c; ch++) {
          const inPatch = y >= py && y < py + ph && x >= px && x < px + pw && (c === 1 || ch === k % c);
          out[((n * h + y) * w + x) * c + ch] = inPatch ? 180 + Math.floor(rng() * 70) : Math.floor(rng() * 60);
        }
      }
    }
  }
  return out;
}

/** CIFAR-10 binary records of `pixels` (NHWC), written channel-planar after the label byte. */
function cifarRecords(pixels: Uint8Array, labels: number[]): Buffer {
  const out = Buffer.alloc(labels.length * 3073);
  labels.forEach((l, n) => {
    out[n * 3073] = l;
    for (let ch = 0; ch < 3; ch++) for (let p = 0; p < 1024; p++) out[n * 3073 + 1 + ch * 1024 + p] = pixels[(n * 1024 + p) * 3 + ch];
  });
  return out;
}

const tiny = (units: number, first: string, extra = '') => `
teacher:
  layers:
${first}
    - { type: dense, units: 32, activation: relu }
    - { type: dense, units: ${units} }
  training: { epochs: 6, batchSize: 16, learningRate: 0.005${extra} }
student:
  layers:
${first}
    - { type: dense, units: ${units} }
  training: { epochs: 6, batchSize: 16, learningRate: 0.005${extra} }
quantization: { calibrationSamples: 40 }`;
const conv = '    - { type: conv2d, filters: 4, kernelSize: 3, strides: 2, activation: relu }\n    - { type: flatten }';

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('e2e-sources'));
  // 5 classes of 8x8 grey IDX images.
  const five = (n: number) => n % 5;
  await writeFile(join(dir, 'five-train-x'), idx([150, 8, 8], patterned(150, 8, 8, 1, 5, five, 1)));
  await writeFile(
    join(dir, 'five-train-y'),
    idx(
      [150],
      Uint8Array.from({ length: 150 }, (_, n) => five(n)),
    ),
  );
  await writeFile(join(dir, 'five-test-x'), idx([50, 8, 8], patterned(50, 8, 8, 1, 5, five, 2)));
  await writeFile(
    join(dir, 'five-test-y'),
    idx(
      [50],
      Uint8Array.from({ length: 50 }, (_, n) => five(n)),
    ),
  );
  // 32x32x3 in CIFAR-10's binary format: 4 classes (labels 0..3 of the 10), 5 training files.
  const four = (n: number) => (n * 7) % 4;
  await mkdir(join(dir, 'cifar'));
  for (let b = 0; b < 5; b++) {
    const labels = Array.from({ length: 40 }, (_, i) => four(b * 40 + i));
    await writeFile(
      join(dir, 'cifar', `data_batch_${b + 1}.bin`),
      cifarRecords(
        patterned(40, 32, 32, 3, 4, (i) => labels[i], 10 + b),
        labels,
      ),
    );
  }
  const testLabels = Array.from({ length: 40 }, (_, i) => four(i + 1));
  await writeFile(
    join(dir, 'cifar', 'test_batch.bin'),
    cifarRecords(
      patterned(40, 32, 32, 3, 4, (i) => testLabels[i], 20),
      testLabels,
    ),
  );
  // A folder of 12x12 RGB PNGs in 3 classes.
  const names = ['circle', 'square', 'star'];
  for (const [k, name] of names.entries()) {
    const px = patterned(30, 12, 12, 3, 3, () => k, 30 + k);
    for (let n = 0; n < 30; n++) {
      await mkdir(join(dir, 'shapes', name), { recursive: true });
      await writeFile(join(dir, 'shapes', name, `${n}.png`), png(12, 12, 3, px.subarray(n * 432, (n + 1) * 432)));
    }
  }
  await copyFile(WINE, join(dir, 'wine.csv'));
});
afterAll(() => cleanup());

const CASES = [
  {
    name: 'five',
    chance: 0.2,
    yaml: `data:\n  source: idx\n  files: { trainImages: five-train-x, trainLabels: five-train-y, testImages: five-test-x, testLabels: five-test-y }\n${tiny(5, '    - { type: flatten }')}`,
    data: 'input [8, 8, 1] uint8, 5 classes, 150 training / 50 test examples',
  },
  {
    name: 'cifar',
    chance: 0.25,
    yaml: `data:\n  source: cifar10\n  dir: cifar\n${tiny(10, conv)}`,
    data: 'input [32, 32, 3] uint8, 10 classes, 200 training / 40 test examples',
  },
  {
    name: 'shapes',
    chance: 1 / 3,
    yaml: `data:\n  source: folder\n  train: shapes\n  testSplit: 0.2\n${tiny(3, conv, ', augment: { flip: true, crop: 1 }')}`,
    data: 'input [12, 12, 3] uint8, 3 classes (circle, square, star), 72 training / 18 test examples',
  },
  {
    name: 'wine',
    chance: 0.4,
    yaml: `data:\n  source: csv\n  train: wine.csv\n  testSplit: 0.2\n  label: cultivar\n${tiny(3, '    - { type: dense, units: 16, activation: relu }')}`,
    data: 'input [13] float32, 3 classes (cultivar_1, cultivar_2, cultivar_3), 142 training / 36 test examples',
  },
];

describe.each(CASES)('$name', ({ name, yaml, chance, data }) => {
  it('validates, runs end to end, and its int8 file scores in LiteRT.js what metrics.json says', { timeout: 600_000 }, async () => {
    const file = join(dir, `${name}.yaml`);
    await writeFile(file, `name: e2e-${name}\nseed: 2\n${yaml}\n`);
    const out = sink();
    expect(await main(['validate', file], { stdout: out.stream, stderr: sink().stream })).toBe(0);
    expect(out.text()).toContain(`data: ${data}`);

    const runsDir = join(dir, `runs-${name}`);
    const r = await run(file, { runsDir, log: () => undefined, progress: sink().stream });
    expect(r.result.ok).toBe(true);
    const m = JSON.parse(await readFile(join(r.runDir!, 'metrics.json'), 'utf8')) as Metrics;
    const q = m.models.student_int8!.tflite!;
    expect(q.mode).toBe('int8');
    for (const role of ['teacher', 'student', 'student_baseline'] as const) expect(m.models[role]!.accuracy, role).toBeGreaterThan(chance + 0.2);
    expect(q.accuracy).toBeGreaterThan(chance + 0.2);

    // The int8 file on its own, in LiteRT.js, on the test split as the run had it.
    const bytes = new Uint8Array(await readFile(join(r.runDir!, 'student-int8.tflite')));
    const loaded = await loadExperiment(file);
    const ds = await loadDataset(loaded.experiment.data, { baseDir: dir, seed: 2, splitSeed: 2 });
    const e = await evaluateTflite(bytes, { images: inputsOf(ds, ds.test), labels: ds.test.y, imageShape: ds.inputShape }, { runtime: 'litert' });
    expect(Number(e.accuracy.toFixed(6))).toBe(q.accuracy); // metrics.json keeps 6 decimals
    const tfl = readTflite(bytes);
    expect(tfl.tensors[tfl.inputs[0]].shape).toEqual([1, ...ds.inputShape]);
    expect(tfl.tensors[tfl.outputs[0]].shape).toEqual([1, ds.numClasses]);
    if (ds.classNames) expect(m.data.class_names).toEqual(ds.classNames);
  });
});

describe('an image folder run again', () => {
  it('decodes no image: the data stage is cached, and a retrained teacher reads the decoded images from its entry', { timeout: 600_000 }, async () => {
    const file = join(dir, 'shapes.yaml');
    const runsDir = join(dir, 'runs-shapes');
    const decoder = vi.mocked(imageDecode.sharpDecoder);
    decoder.mockClear();
    // A new workspace (as a new process would have): nothing is in memory.
    const r = await run(file, { runsDir, forceStages: ['teacher'], log: () => undefined, progress: sink().stream });
    const status = Object.fromEntries(r.result.stages.map((s) => [s.id, s.status]));
    expect([status.data, status['teacher@s2']]).toEqual(['cached', 'ran']);
    expect(decoder).not.toHaveBeenCalled();
  });
});
