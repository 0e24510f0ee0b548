/**
 * `kdq validate` checks the networks against the real data: its input shape and class count come
 * from a probe of the files (never the 28x28 grey images in 10 classes of MNIST), and `kdq run`
 * stops at the same line with the same message before any stage runs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadExperiment } from '../../src/config/load.ts';
import { main } from '../../src/cli.ts';
import { ConfigError, formatIssue } from '../../src/errors.ts';
import { sink } from '../capture.ts';
import { cyclicLabels, idx, pattern, tempDir } from '../data/formats/fixtures.ts';

const WINE = join(import.meta.dirname, '..', '..', 'data', 'wine', 'wine.csv');
let dir: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('data-fit'));
  // 5 classes of 8x8 grey images, and 3-channel 32x32 images in 10 classes (IDX rank 4).
  await writeFile(join(dir, 'five-train-x'), idx([20, 8, 8], pattern(20, 64)));
  await writeFile(join(dir, 'five-train-y'), idx([20], cyclicLabels(20, 5)));
  await writeFile(join(dir, 'five-test-x'), idx([5, 8, 8], pattern(5, 64)));
  await writeFile(join(dir, 'five-test-y'), idx([5], cyclicLabels(5, 5)));
  await writeFile(join(dir, 'rgb-train-x'), idx([10, 32, 32, 3], pattern(10, 3072)));
  await writeFile(join(dir, 'rgb-train-y'), idx([10], cyclicLabels(10, 10)));
  await writeFile(join(dir, 'rgb-test-x'), idx([4, 32, 32, 3], pattern(4, 3072)));
  await writeFile(join(dir, 'rgb-test-y'), idx([4], cyclicLabels(4, 10)));
  await copyFile(WINE, join(dir, 'wine.csv'));
});
afterAll(() => cleanup());

const idxData = (set: 'five' | 'rgb') => `
data:
  source: idx
  files: { trainImages: ${set}-train-x, trainLabels: ${set}-train-y, testImages: ${set}-test-x, testLabels: ${set}-test-y }`;
const wineData = `
data:
  source: csv
  train: wine.csv
  testSplit: 0.2
  label: cultivar`;

async function experiment(name: string, text: string): Promise<string> {
  const file = join(dir, `${name}.yaml`);
  await writeFile(file, `name: ${name}\n${text.trim()}\n`);
  return file;
}

/** The issues of loading `file`, formatted `FILE:LINE:COL: path: message`; [] when it loads. */
async function issues(file: string): Promise<string[]> {
  try {
    await loadExperiment(file);
    return [];
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return e.issues.map((i) => formatIssue({ ...i, file: i.file.slice(i.file.lastIndexOf('/') + 1) }));
  }
}

const net = (units: number, first = '{ type: flatten }') => `
  layers:
    - ${first}
    - { type: dense, units: ${units} }`;

describe('networks checked against the data they will train on', () => {
  it('5 classes: the last layer must have 5 units, said at its line, and 5 passes', async () => {
    const bad = await experiment('five-bad', `${idxData('five')}\nteacher:${net(10)}\nstudent:${net(5)}`);
    expect(await issues(bad)).toEqual([
      'five-bad.yaml:8:29: teacher.layers.1.units: layer 1 (dense): the network must end in 5 logits, one per class of the data (shape [5]), but outputs [10]; end with { type: dense, units: 5 }',
    ]);
    const good = await experiment('five-good', `${idxData('five')}\nteacher:${net(5)}\nstudent:${net(5)}`);
    expect(await issues(good)).toEqual([]);
  });

  it('32x32x3 images: a kernel is checked against 32x32 (30 fits, 33 does not), not against MNIST', async () => {
    const conv = (k: number) => `
teacher:
  layers:
    - { type: conv2d, filters: 2, kernelSize: ${k} }
    - { type: flatten }
    - { type: dense, units: 10 }
student:${net(10)}`;
    expect(await issues(await experiment('rgb-k30', `${idxData('rgb')}${conv(30)}`))).toEqual([]);
    expect(await issues(await experiment('rgb-k33', `${idxData('rgb')}${conv(33)}`))).toEqual([
      "rgb-k33.yaml:7:47: teacher.layers.0.kernelSize: layer 0 (conv2d): window 33x33 is larger than its input 32x32; use a smaller kernelSize, padding 'same', or fewer layers before it",
    ]);
  });

  it('table rows: dense networks only, no augmentation, mean and std one per feature', async () => {
    const tabular = `
teacher:
  layers:
    - { type: dense, units: 16, activation: relu }
    - { type: dense, units: 3 }
student:
  layers:
    - { type: dense, units: 3 }`;
    expect(await issues(await experiment('wine-ok', `${wineData}${tabular}`))).toEqual([]);
    const conv = await issues(
      await experiment('wine-conv', `${wineData}\nteacher:${net(3, '{ type: conv2d, filters: 2, kernelSize: 3 }')}\nstudent:${net(3)}`),
    );
    expect(conv[0]).toContain('teacher.layers.0.type: layer 0 (conv2d): the data is table rows (input [features]), not images');
    expect(conv[1]).toContain('student.layers.0.type: layer 0 (flatten): the data is table rows [13], already flat; remove this flatten');
    const augment = await issues(await experiment('wine-augment', `${wineData}${tabular}\n  training: { augment: { flip: true } }`));
    expect(augment).toEqual([
      'wine-augment.yaml:14:15: student.training.augment: augmentation moves and mirrors pixels, but the data is table rows [13]; remove augment',
    ]);
    const mean = await issues(await experiment('wine-mean', `${wineData}\n  normalize: none\n  mean: [1, 2]${tabular}`));
    expect(mean).toEqual([
      'wine-mean.yaml:8:3: data.mean: lists 2 values but the data has 13 features (input [13]); give one value for all, or one per channel',
    ]);
  });

  it('kdq validate prints what the data is; kdq run stops at the same line, writing nothing', async () => {
    const good = await experiment('five-cli', `${idxData('five')}\nteacher:${net(5)}\nstudent:${net(5)}`);
    const out = sink();
    const err = sink();
    expect(await main(['validate', good, '--runs-dir', join(dir, 'runs')], { stdout: out.stream, stderr: err.stream })).toBe(0);
    expect(out.text()).toContain(`${good}: data: input [8, 8, 1] uint8, 5 classes, 20 training / 5 test examples`);
    const bad = join(dir, 'five-bad.yaml');
    const v = sink();
    expect(await main(['validate', bad], { stdout: out.stream, stderr: v.stream })).toBe(2);
    const r = sink();
    expect(await main(['run', bad, '--runs-dir', join(dir, 'runs')], { stdout: out.stream, stderr: r.stream })).toBe(2);
    const line = v.text().split('\n')[0]!;
    expect(line).toMatch(/five-bad\.yaml:8:29: teacher\.layers\.1\.units: layer 1 \(dense\): the network must end in 5 logits/);
    expect(r.text().split('\n')[0]).toBe(line);
    expect(await readdir(join(dir, 'runs')).catch(() => [])).toEqual([]);
  });
});
