/**
 * A whole kdq run with branched networks: a residual teacher and a student that concatenates,
 * with batch norms before and after activations, on 49x10x1 IDX images (a keyword-spotting input
 * shape). Every stage runs on the graphs: training (the student on two threads that rebuild the
 * graph), soft labels, KD, the baseline, the float32 and int8 exports and their evaluation.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/api.ts';
import type { Metrics } from '../../src/report/metrics.ts';
import { readTflite } from '../../src/tflite/reader.ts';
import { sink } from '../capture.ts';
import { idxBytes } from '../data/idx-fixtures.ts';
import { DSCNN_INPUT, stripeImages } from '../models/architecture-fixtures.ts';

const EXPERIMENT = `
name: e2e-graph
seed: 2
data:
  source: idx
  files: { trainImages: train-images.idx, trainLabels: train-labels.idx, testImages: test-images.idx, testLabels: test-labels.idx }
teacher:
  layers:
    - { type: conv2d, filters: 8, kernelSize: 3, strides: 2, padding: same, activation: relu, name: stem }
    - { type: conv2d, filters: 8, kernelSize: 3, padding: same }
    - { type: batchNormalization, momentum: 0.8, name: res }
    - { type: add, inputs: [stem, res] }
    - { type: activation, activation: relu }
    - { type: globalAveragePooling2d }
    - { type: dense, units: 10 }
  training: { epochs: 2, batchSize: 16 }
student:
  layers:
    - { type: conv2d, filters: 8, kernelSize: [10, 4], strides: 2, padding: same }
    - { type: batchNormalization, momentum: 0.8 }
    - { type: activation, activation: relu, name: a }
    - { type: depthwiseConv2d, kernelSize: 3, padding: same, activation: relu }
    - { type: batchNormalization, momentum: 0.8 }
    - { type: conv2d, filters: 8, kernelSize: 1, activation: relu, name: b }
    - { type: concatenate, inputs: [a, b] }
    - { type: globalAveragePooling2d }
    - { type: dense, units: 10 }
  training: { epochs: 2, batchSize: 16, threads: 2 }
quantization: { mode: int8, calibrationSamples: 16 }
`;

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kdq-e2e-graph-'));
  for (const [split, n, seed] of [
    ['train', 96, 1],
    ['test', 40, 2],
  ] as const) {
    const { images, labels } = stripeImages(n, DSCNN_INPUT, 10, seed);
    await writeFile(
      join(dir, `${split}-images.idx`),
      idxBytes(
        [n, ...DSCNN_INPUT],
        Array.from(images, (v) => Math.round(v * 255)),
      ),
    );
    await writeFile(join(dir, `${split}-labels.idx`), idxBytes([n], labels));
  }
  await writeFile(join(dir, 'graph.yaml'), EXPERIMENT);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('kdq run with graphs on 49x10x1 images', () => {
  it('trains, distills, exports and evaluates branched networks', { timeout: 600_000 }, async () => {
    const out = await run(join(dir, 'graph.yaml'), { runsDir: join(dir, 'runs'), cacheDir: join(dir, 'cache'), log: () => undefined, progress: sink().stream });
    expect(out.result.ok).toBe(true);
    const m = JSON.parse(await readFile(join(out.runDir!, 'metrics.json'), 'utf8')) as Metrics;
    expect(m.data).toMatchObject({ train: 96, test: 40 });
    for (const role of ['teacher', 'student', 'student_baseline'] as const) {
      const model = m.models[role]!;
      // The float file computes what tf.js computes, graph and all.
      expect(Math.abs(model.tflite!.accuracy - model.accuracy!), role).toBeLessThanOrEqual(1 / 40);
    }
    expect(m.models.student_int8!.tflite!.agreement_with_student).toBeGreaterThanOrEqual(0.9);
    const ops = async (file: string) => readTflite(new Uint8Array(await readFile(join(out.runDir!, file)))).operators.map((o) => `${o.op} v${o.version}`);
    expect(await ops('teacher.tflite')).toContain('ADD v1');
    const int8 = await ops('student-int8.tflite');
    expect(int8).toContain('CONCATENATION v2');
    // The batch norm after the depthwise relu cannot be folded: MUL then ADD.
    expect(int8).toContain('ADD v2');
    expect(int8.filter((o) => /^MUL v[23]$/.test(o))).toHaveLength(1);
  });
});
