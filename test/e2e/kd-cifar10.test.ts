/**
 * experiments/kd-cifar10.yaml and resnet8-cifar10.yaml as shipped, except where they fetch from:
 * the download path (the official archive's layout, fetched once, verified, unpacked) against a
 * server on 127.0.0.1 serving a small archive in the real format made here; the real one cannot be
 * fetched here.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { main } from '../../src/cli.ts';
import type { Metrics } from '../../src/report/metrics.ts';
import { sink } from '../capture.ts';
import { CIFAR10_NAMES, writeCifar10 } from '../data/formats/cifar-fixtures.ts';
import { tempDir } from '../data/formats/fixtures.ts';

const FILE = join(import.meta.dirname, '..', '..', 'experiments', 'kd-cifar10.yaml');
const RESNET8 = join(import.meta.dirname, '..', '..', 'experiments', 'resnet8-cifar10.yaml');
let dir: string;
let cleanup: () => Promise<void>;
let server: Server;
let url: string;
let sha256: string;
const hits: string[] = [];

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('kd-cifar10'));
  await writeCifar10(join(dir, 'src', 'cifar-10-batches-bin'), 20, 30);
  // Tarred and gzipped by GNU tar, as the official archive is.
  const archive = execFileSync('tar', ['-czf', '-', '-C', join(dir, 'src'), 'cifar-10-batches-bin']);
  sha256 = createHash('sha256').update(archive).digest('hex');
  server = createServer((req, res) => {
    hits.push(req.url ?? '');
    if (req.url !== '/~kriz/cifar-10-binary.tar.gz') return void res.writeHead(404).end();
    res.writeHead(200, { 'content-length': archive.length }).end(archive);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/~kriz/cifar-10-binary.tar.gz`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await cleanup();
});

async function kdq(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out = sink();
  const err = sink();
  const code = await main(argv, { stdout: out.stream, stderr: err.stream });
  return { code, out: out.text(), err: err.text() };
}

describe('experiments/kd-cifar10.yaml', () => {
  it("names the official archive and its sha256, and validates without the network against CIFAR-10's known shape", async () => {
    const text = await readFile(FILE, 'utf8');
    expect(text).toContain('url: https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz');
    expect(text).toContain('sha256: c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd');
    const v = await kdq('validate', FILE, '--runs-dir', join(dir, 'no-runs'));
    expect(v.code).toBe(0);
    expect(v.out).toContain('data: data.source cifar10: not downloaded yet; the layers were checked against its known shape [32, 32, 3] and 10 classes');
    expect(hits).toEqual([]);
    // A layer that does not fit CIFAR-10 is caught all the same.
    const bad = await kdq('validate', FILE, '--set', 'student.layers.6.units=100');
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('student.layers.6.units: layer 6 (dense): the network must end in 10 logits, one per class of the data');
  });

  it('downloads the archive once, verifies and unpacks it, and runs every stage on it', { timeout: 900_000 }, async () => {
    const runsDir = join(dir, 'runs');
    const set = [
      `data.download.archive.url=${url}`,
      `data.download.archive.sha256=${sha256}`,
      'data.trainLimit=64',
      'data.testLimit=30',
      'teacher.training.epochs=1',
      'student.training.epochs=1',
      'quantization.calibrationSamples=16',
    ].flatMap((s) => ['--set', s]);
    const r = await kdq('run', FILE, ...set, '--runs-dir', runsDir);
    expect(r.code, r.err).toBe(0);
    expect(hits).toEqual(['/~kriz/cifar-10-binary.tar.gz']);
    const m = JSON.parse(await readFile(join(runsDir, 'kd-cifar10', 'latest', 'metrics.json'), 'utf8')) as Metrics;
    expect(m.data).toMatchObject({ source: 'cifar10', train: 64, test: 30, class_names: CIFAR10_NAMES });
    expect(m.data.preprocessing).toMatchObject({ normalize: 'auto', scale: 0.003922 }); // 1/255, 6 decimals
    expect(m.data.preprocessing!.mean).toHaveLength(3);
    expect(m.models.student_int8!.tflite!.mode).toBe('int8');
    // Now it is in the download cache: validate probes the files, and a second run fetches nothing.
    const v = await kdq('validate', FILE, ...set, '--runs-dir', runsDir);
    expect(v.out).toContain('data: input [32, 32, 3] uint8, 10 classes (airplane, automobile, bird, cat, deer, ...), 100 training / 30 test examples');
    expect((await kdq('run', FILE, ...set, '--runs-dir', runsDir)).code).toBe(0);
    expect(hits).toHaveLength(1);
  });
});

describe('experiments/resnet8-cifar10.yaml', () => {
  it(
    'runs its whole recipe (ResNet-8 from a residual teacher, crops and flips, warm-up cosine, weight decay, early stopping on a validation split) and exports int8',
    { timeout: 900_000 },
    async () => {
      const text = await readFile(RESNET8, 'utf8');
      expect(text).toContain('url: https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz');
      expect(text).toContain('sha256: c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd');
      const runsDir = join(dir, 'runs-resnet8');
      const set = [
        `data.download.archive.url=${url}`,
        `data.download.archive.sha256=${sha256}`,
        'data.trainLimit=80',
        'data.testLimit=30',
        'teacher.training.epochs=4',
        'teacher.training.schedule.warmupEpochs=2',
        'student.training.epochs=4',
        'student.training.schedule.warmupEpochs=2',
        'student.training.earlyStopping.patience=1',
        'quantization.calibrationSamples=16',
      ].flatMap((s) => ['--set', s]);
      const r = await kdq('run', RESNET8, ...set, '--runs-dir', runsDir);
      expect(r.code, r.err).toBe(0);
      const m = JSON.parse(await readFile(join(runsDir, 'resnet8-cifar10', 'latest', 'metrics.json'), 'utf8')) as Metrics;
      expect(m.data).toMatchObject({ source: 'cifar10', train: 72, test: 30 }); // 8 of the 80 held out
      expect(m.models.student!.params).toBe(78666);
      expect(m.models.student_int8!.tflite!.mode).toBe('int8');
      // Validation every epoch, and a scheduled rate that warms up then decays.
      const curve = m.curves!.student!;
      expect(curve.every((p) => p.val_accuracy !== undefined)).toBe(true);
      expect(curve[0]!.learning_rate).toBeLessThan(curve[1]!.learning_rate!);
      expect(m.models.student!.best_epoch).toBeGreaterThanOrEqual(1);
    },
  );
});
