/**
 * The report stage on synthetic stage folders (no training): three seeds become per-seed metrics
 * plus mean and std of each accuracy and of the KD gain; the first seed's training histories become
 * the report's curves; the int8 file's confusion matrix reaches metrics.json and the report.
 */
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METRICS } from '../../src/names.ts';
import { planExperiment } from '../../src/stages/plan.ts';
import type { StageInput } from '../../src/pipeline/stage.ts';
import { PUBLISH_FILE, type PublishList } from '../../src/pipeline/publish.ts';
import { StageServices } from '../../src/stages/context.ts';
import { reportStage, REPORT_FILES } from '../../src/stages/report.ts';
import type { Metrics } from '../../src/report/metrics.ts';
import type { BackendIdentity } from '../../src/backend/identity.ts';
import { experiment } from '../pipeline/fixtures/experiment.ts';
import { metricsSchemaErrors } from '../report/metrics-schema.ts';
import { confusion } from '../report/fixtures.ts';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'kdq-report-stage-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const STUDENT = { 1: 0.97, 2: 0.975, 3: 0.965 } as Record<number, number>;
const BASELINE = { 1: 0.965, 2: 0.97, 3: 0.972 } as Record<number, number>;
const INT8 = { 1: 0.96, 2: 0.97, 3: 0.95 } as Record<number, number>;

async function stageFolder(id: string, files: Record<string, unknown>): Promise<string> {
  const dir = join(root, id.replace(/[^A-Za-z0-9@_-]/g, '_'));
  await mkdir(dir, { recursive: true });
  for (const [name, v] of Object.entries(files)) await writeFile(join(dir, name), JSON.stringify(v));
  return dir;
}

async function runReport(seeds: number[]): Promise<{ out: string; metrics: Metrics }> {
  const exp = experiment();
  exp.evaluation.seeds = seeds;
  exp.evaluation.metrics = [...METRICS];
  const graph = planExperiment(exp);
  const report = graph.stages.report;
  const inputs: Record<string, StageInput> = {};
  for (const id of Object.values(report.inputs)) {
    const s = graph.stages[id];
    const input = (dir: string): StageInput => ({ id, kind: s.kind, config: s.config, seed: s.seed, role: s.role, dir, key: `key-of-${id}` });
    const seed = s.seed ?? 1;
    if (s.kind === 'data') {
      inputs[id] = input(
        await stageFolder(id, {
          'data.json': { source: 'mnist', train: 2000, test: 200, validation: 0, sha256: 'b'.repeat(64), height: 28, width: 28, channels: 1, numClasses: 10 },
        }),
      );
    } else if (s.kind === 'teacher' || s.kind === 'student' || s.kind === 'baseline') {
      const acc = s.kind === 'teacher' ? 0.98 + seed / 1000 : s.kind === 'student' ? STUDENT[seed] : BASELINE[seed];
      // The teacher's and baseline's histories are as written before schedules and validation existed;
      // the student's has a cosine-like rate, validation and early stopping.
      const student = s.kind === 'student';
      const history = {
        seconds: 3,
        epochs: [1, 2].map((epoch) => ({
          epoch,
          epochs: 2,
          loss: 1 / epoch + seed,
          // Seeds after the first a point higher each, so the report's spread over seeds has a width.
          accuracy: 0.8 + epoch / 20 + (seed - 1) / 100,
          samples: 2000,
          samplesPerSecond: 500,
          seconds: 4,
          ...(student ? { learningRate: 0.001 / epoch, valLoss: 0.3 + epoch / 10, valAccuracy: 0.9 - epoch / 100 } : {}),
        })),
        ...(student ? { earlyStopping: { monitor: 'val_loss', bestEpoch: 1, best: 0.4, stopped: false } } : {}),
      };
      inputs[id] = input(
        await stageFolder(id, {
          'eval.json': { params: 1000, accuracy: acc, per_class_accuracy: new Array(10).fill(acc), test: 200 },
          'history.json': history,
        }),
      );
    } else if (s.kind === 'evaluate') {
      const int8 = s.role === 'student_int8';
      const acc = int8 ? INT8[seed] : 0.9;
      inputs[id] = input(
        await stageFolder(id, {
          'evaluation.json': {
            accuracy: acc,
            bytes: int8 ? 1000 : 4000,
            agreement: int8 ? { teacher: 0.95, student: 0.99 } : {},
            latencyMsPerImage: 0.5,
            runtime: 'litert',
            runtimeVersion: '@litertjs/core 2.5.3',
            mode: int8 ? 'int8' : 'float32',
            inputType: 'float32',
            outputType: 'float32',
            confusion: confusion(20, Math.round((1 - acc) * 200)),
            runtimes: [
              {
                runtime: 'litert',
                runtimeVersion: '@litertjs/core 2.5.3',
                status: 'ran',
                accuracy: acc,
                top1Agreement: 1,
                maxOutputDifference: 0,
                latencyMsPerImage: 0.5,
              },
              int8
                ? {
                    runtime: 'tfjs-tflite',
                    runtimeVersion: '@tensorflow/tfjs-tflite 0.0.1-alpha.10',
                    status: 'ran',
                    accuracy: acc,
                    top1Agreement: 1,
                    maxOutputDifference: 0,
                    latencyMsPerImage: 0.02,
                  }
                : {
                    runtime: 'tfjs-tflite',
                    runtimeVersion: '@tensorflow/tfjs-tflite 0.0.1-alpha.10',
                    status: 'refused',
                    missingKernel: 'FULLY_CONNECTED v12',
                    reason: 'tfjs-tflite is older than ...',
                  },
            ],
          },
        }),
      );
    } else if (s.kind === 'export') {
      inputs[id] = input(await stageFolder(id, { 'export.json': { mode: 'float32', bytes: 4000, inputType: 'float32', outputType: 'float32' } }));
    }
  }
  const out = join(root, `report-${seeds.join('-')}`);
  await mkdir(out, { recursive: true });
  const services = new StageServices({
    baseDir: root,
    dataCacheDir: root,
    progress: process.stderr,
    backend: { name: 'wasm', tfjs: '4.22.0' } as BackendIdentity,
  });
  if (report.kind !== 'report') throw new Error('the report stage is not a report');
  await reportStage(services).run({
    stage: report,
    config: report.config,
    key: 'k',
    inputs,
    outDir: out,
    log: () => undefined,
    signal: new AbortController().signal,
  });
  return { out, metrics: JSON.parse(await readFile(join(out, 'metrics.json'), 'utf8')) as Metrics };
}

describe('report stage', () => {
  it('reports each of three seeds, and mean and std of every accuracy and of the KD gain', async () => {
    const { out, metrics: m } = await runReport([1, 2, 3]);
    expect((await readdir(out)).sort()).toEqual([...REPORT_FILES, PUBLISH_FILE].sort());
    // The run folder gets the reports and every exported file, other seeds' under seed-<n>/.
    const published = JSON.parse(await readFile(join(out, PUBLISH_FILE), 'utf8')) as PublishList;
    expect(published.map((f) => `${f.path} <- ${f.stage}/${f.file}`).sort()).toEqual(
      [
        ...REPORT_FILES.map((f) => `${f} <- report/${f}`),
        ...[1, 2, 3].flatMap((seed) =>
          ['teacher', 'student', 'student_baseline', 'student_int8'].map((role) => {
            const file = {
              teacher: 'teacher.tflite',
              student: 'student.tflite',
              student_baseline: 'student-baseline.tflite',
              student_int8: 'student-int8.tflite',
            }[role];
            return `${seed === 1 ? '' : `seed-${seed}/`}${file} <- export:${role}@s${seed}/model.tflite`;
          }),
        ),
      ].sort(),
    );
    expect(metricsSchemaErrors(m)).toEqual([]);
    expect(m.seeds!.map((s) => [s.seed, s.models.student!.accuracy, s.models.student_baseline!.accuracy, s.kd_gain])).toEqual([
      [1, 0.97, 0.965, 0.005],
      [2, 0.975, 0.97, 0.005],
      [3, 0.965, 0.972, -0.007],
    ]);
    // The first seed's models are the top-level contract.
    expect(m.seed).toBe(1);
    expect(m.kd_gain).toBe(0.005);
    expect(m.models.student_int8!.tflite!.accuracy).toBe(0.96);
    // mean 0.001, sample std sqrt((0.004² + 0.004² + 0.008²) / 2) = 0.0069282
    expect(m.summary!.kd_gain).toEqual({ mean: 0.001, std: 0.006928, n: 3 });
    expect(m.summary!['student.accuracy']).toEqual({ mean: 0.97, std: 0.005, n: 3 });
    expect(m.summary!['student_int8.tflite.accuracy']).toEqual({ mean: 0.96, std: 0.01, n: 3 });
    expect(Object.keys(m.summary!).sort()).toEqual(
      [
        'kd_gain',
        'student.accuracy',
        'student.tflite.accuracy',
        'student_baseline.accuracy',
        'student_baseline.tflite.accuracy',
        'student_int8.tflite.accuracy',
        'teacher.accuracy',
        'teacher.tflite.accuracy',
      ].sort(),
    );
  });

  it('puts the int8 confusion matrix and per-class accuracy in metrics.json, and curves and seeds in the report', async () => {
    const { out, metrics: m } = await runReport([1, 2, 3]);
    const q = m.models.student_int8!.tflite!;
    expect(q.confusion_matrix).toEqual(confusion(20, 8));
    expect(q.per_class_accuracy).toEqual([...new Array(8).fill(0.95), 1, 1]);
    // Every runtime's accuracy, or its refusal; the primary runtime's is the file's accuracy.
    expect(q.runtimes).toEqual({
      litert: { runtime: '@litertjs/core 2.5.3', accuracy: 0.96, agreement_with_primary: 1 },
      'tfjs-tflite': { runtime: '@tensorflow/tfjs-tflite 0.0.1-alpha.10', accuracy: 0.96, agreement_with_primary: 1 },
    });
    expect(m.models.student!.tflite!.runtimes!['tfjs-tflite']).toEqual({
      runtime: '@tensorflow/tfjs-tflite 0.0.1-alpha.10',
      refused: 'no kernel for FULLY_CONNECTED v12',
    });
    // Timings stay out of metrics.json and the reports.
    expect(JSON.stringify(m)).not.toMatch(/latency|seconds|samplesPerSecond/);
    const md = await readFile(join(out, 'report.md'), 'utf8');
    expect(md).toContain('## Seeds');
    expect(md).toContain(
      '| seed | teacher | teacher .tflite | student | student .tflite | student_baseline | student_baseline .tflite | student_int8 .tflite | KD gain |',
    );
    expect(md).toContain('| 3 | 98.30% | 90.00% | 96.50% | 90.00% | 97.20% | 90.00% | 95.00% | -0.70 pts |');
    expect(md).toContain('| mean | 98.20% | 90.00% | 97.00% | 90.00% | 96.90% | 90.00% | 96.00% | +0.10 pts |');
    expect(md).toContain('| std | 0.10% | 0.00% | 0.50% | 0.00% | 0.36% | 0.00% | 1.00% | 0.69 pts |');
    expect(md).toContain('- KD gain over 3 seeds: +0.10 ± 0.69 points (mean ± std)');
    expect(md).toContain('## Confusion matrix of student\\_int8');
    // Epoch 2 of the first seed's teacher: loss 1/2 + 1.
    expect(md).toMatch(/\| 2 \| 1\.5000 \| 90\.00% \|/);
    // Curves and the kept epoch reach metrics.json: the student's with validation and its rate.
    expect(m.curves!.student).toEqual([
      { epoch: 1, loss: 2, accuracy: 0.85, learning_rate: 0.001, val_loss: 0.4, val_accuracy: 0.89 },
      { epoch: 2, loss: 1.5, accuracy: 0.9, learning_rate: 0.0005, val_loss: 0.5, val_accuracy: 0.88 },
    ]);
    expect(m.curves!.teacher![1]).toEqual({ epoch: 2, loss: 1.5, accuracy: 0.9 });
    expect(m.models.student!.best_epoch).toBe(1);
    expect(m.models.teacher!.best_epoch).toBeUndefined();
    expect(md).toContain('- early stopping: student kept epoch 1 of 2 trained');
    expect(metricsSchemaErrors(m)).toEqual([]);
    expect(md).toMatch(/\| student val loss \| student val accuracy \| student learning rate \|/);
    const html = await readFile(join(out, 'report.html'), 'utf8');
    // Accuracy against size, per-class KD gain, then the curves: cross-entropy, KD loss, accuracy, learning rate (one chart per kind of number).
    expect([...html.matchAll(/<svg [^>]*aria-label="([^"]*)"/g)].map((x) => x[1])).toEqual([
      'Accuracy against .tflite size',
      'Per-class KD gain (distilled student minus baseline)',
      'Cross-entropy per epoch',
      'KD loss per epoch (distilled student)',
      'Accuracy per epoch',
      'Learning rate per epoch',
      'Accuracy per epoch, 3 seeds (mean, min–max band)',
    ]);
    // Both students' training accuracy (and the student's validation) over the three seeds: one band each.
    expect([...html.matchAll(/<polygon class="band" data-name="([^"]*)"/g)].map((x) => x[1])).toEqual(['student', 'student (val)', 'student_baseline']);
    // 7 lines of the first seed, then the two students' means over seeds.
    expect(html.match(/<g class="series" data-name="(teacher|student|student_baseline)">/g)).toHaveLength(9);
    expect(html.match(/<g class="series" data-name="student \(val\)">/g)).toHaveLength(3);
    expect(html).not.toMatch(/https?:\/\//);
  });

  it('writes no seeds or summary for a single seed', async () => {
    const { out, metrics: m } = await runReport([7]);
    expect(m.seed).toBe(7);
    expect(m.seeds).toBeUndefined();
    expect(m.summary).toBeUndefined();
    expect(await readFile(join(out, 'report.md'), 'utf8')).not.toContain('## Seeds');
  });
});
