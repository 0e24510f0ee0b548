/** Small synthetic metrics and run folders for the report and diff tests (no training). */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { serializeMetrics, summarizeSeeds, type Metrics, type SeedMetrics } from '../../src/report/metrics.ts';
import type { EpochPoint, ReportInput } from '../../src/report/report-data.ts';

const perClass = (base: number) => Array.from({ length: 10 }, (_, k) => Number((base - k * 0.004).toFixed(6)));

/** A 10-class confusion matrix with `errors` mistakes spread off the diagonal. */
export function confusion(perClassCount: number, errors: number): number[][] {
  const m = Array.from({ length: 10 }, () => new Array<number>(10).fill(0));
  for (let k = 0; k < 10; k++) m[k][k] = perClassCount;
  for (let e = 0; e < errors; e++) {
    const k = e % 10;
    m[k][k]--;
    m[k][(k + 3) % 10]++;
  }
  return m;
}

/** metrics.json of a plausible run; `int8` sets the int8 student's .tflite accuracy. */
export function sampleMetrics(opts: { int8?: number; experiment?: string } = {}): Metrics {
  const int8 = opts.int8 ?? 0.965;
  return {
    experiment: opts.experiment ?? 'kd-sample',
    seed: 1,
    backend: { name: 'wasm', tfjs: '4.22.0' },
    data: { source: 'mnist', train: 400, test: 200, sha256: 'a'.repeat(64) },
    models: {
      teacher: {
        params: 693962,
        accuracy: 0.985,
        per_class_accuracy: perClass(0.995),
        tflite: {
          file: 'teacher.tflite',
          bytes: 2777000,
          accuracy: 0.985,
          runtime: '@litertjs/core 2.5.3',
          mode: 'float32',
          input_type: 'float32',
          output_type: 'float32',
        },
      },
      student: {
        params: 173930,
        accuracy: 0.97,
        per_class_accuracy: perClass(0.98),
        tflite: {
          file: 'student.tflite',
          bytes: 697000,
          accuracy: 0.97,
          agreement_with_teacher: 0.975,
          runtime: '@litertjs/core 2.5.3',
          mode: 'float32',
          input_type: 'float32',
          output_type: 'float32',
        },
      },
      student_baseline: { params: 173930, accuracy: 0.96, per_class_accuracy: perClass(0.97) },
      student_int8: {
        tflite: {
          file: 'student-int8.tflite',
          bytes: 181000,
          accuracy: int8,
          agreement_with_student: 0.99,
          agreement_with_teacher: 0.97,
          runtime: '@litertjs/core 2.5.3',
          runtimes: {
            litert: { runtime: '@litertjs/core 2.5.3', accuracy: int8, agreement_with_primary: 1 },
            'tfjs-tflite': { runtime: '@tensorflow/tfjs-tflite 0.0.1-alpha.10', accuracy: int8, agreement_with_primary: 1 },
          },
          mode: 'int8',
          input_type: 'float32',
          output_type: 'float32',
          per_class_accuracy: perClass(int8),
          confusion_matrix: confusion(20, Math.round((1 - int8) * 200)),
        },
      },
    },
    kd_gain: 0.01,
  };
}

export function sampleReport(metrics: Metrics = sampleMetrics()): ReportInput {
  const curve = (l0: number, a0: number) =>
    [1, 2, 3].map((epoch) => ({ epoch, loss: Number((l0 / epoch).toFixed(4)), accuracy: Math.min(1, a0 + epoch * 0.05) }));
  return {
    metrics,
    description: 'a sample run for the tests',
    curves: { teacher: curve(0.9, 0.8), student: curve(1.4, 0.75), student_baseline: curve(0.8, 0.72) },
  };
}

/** Writes metrics.json and config.yaml the way a run folder holds them; returns the folder. */
export async function writeRunFolder(
  dir: string,
  metrics: Metrics,
  config: unknown = { name: metrics.experiment, distillation: { temperature: 4, alpha: 0.9 } },
): Promise<string> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'metrics.json'), serializeMetrics(metrics));
  if (config !== undefined) await writeFile(join(dir, 'config.yaml'), `# resolved from test\n${stringify(config)}`);
  return dir;
}

/**
 * metrics.json of a run on `classes` classes (named `name_k` when `named`): every model's
 * per-class accuracy and the int8 file's confusion matrix, with a few classes often taken for
 * their neighbour, as a report of that many classes has to show them.
 */
export function sampleMetricsOf(classes: number, named: boolean): Metrics {
  const m = sampleMetrics();
  const perImages = 20;
  const matrix = Array.from({ length: classes }, (_, t) => {
    const row = new Array<number>(classes).fill(0);
    const wrong = t % 7 === 3 ? 6 : t % 3;
    row[t] = perImages - wrong;
    if (wrong > 0) row[(t + 1) % classes] += wrong;
    return row;
  });
  const acc = matrix.map((row, t) => row[t] / perImages);
  for (const v of Object.values(m.models)) {
    if (v.per_class_accuracy) v.per_class_accuracy = acc.map((a) => Number(Math.min(1, a + 0.02).toFixed(6)));
  }
  const q = m.models.student_int8!.tflite!;
  q.per_class_accuracy = acc;
  q.confusion_matrix = matrix;
  m.data = {
    ...m.data,
    source: named ? 'folder' : 'idx',
    test: classes * perImages,
    ...(named ? { class_names: Array.from({ length: classes }, (_, k) => `name_${k}`) } : {}),
  };
  return m;
}

/**
 * A report of `n` seeds: per-seed accuracies (each seed's students a little apart), their summary,
 * the first seed's curves and every seed's curves of the two students, with validation.
 */
export function sampleSeedsReport(n = 5): ReportInput {
  const base = sampleMetrics();
  const seeds: SeedMetrics[] = Array.from({ length: n }, (_, i) => {
    const models = structuredClone(base.models);
    models.student!.accuracy = Number((0.97 + i * 0.002).toFixed(6));
    models.student_baseline!.accuracy = Number((0.96 - i * 0.001).toFixed(6));
    models.student_int8!.tflite!.accuracy = Number((0.965 + i * 0.001).toFixed(6));
    return { seed: i + 1, models, kd_gain: Number((models.student!.accuracy - models.student_baseline!.accuracy).toFixed(6)) };
  });
  const metrics: Metrics = { ...base, models: seeds[0]!.models, kd_gain: seeds[0]!.kd_gain, seeds, summary: summarizeSeeds(seeds) };
  const curve = (l0: number, a0: number, seed: number): EpochPoint[] =>
    [1, 2, 3, 4].map((epoch) => ({
      epoch,
      loss: Number((l0 / epoch).toFixed(4)),
      accuracy: Math.min(1, a0 + epoch * 0.04 + seed * 0.005),
      valLoss: Number((l0 / epoch + 0.1).toFixed(4)),
      valAccuracy: Math.min(1, a0 + epoch * 0.035 + seed * 0.004),
    }));
  const seedIndex = Array.from({ length: n }, (_, i) => i);
  return {
    metrics,
    description: `a sample run of ${n} seeds for the tests`,
    curves: { teacher: curve(0.9, 0.8, 0), student: curve(1.4, 0.75, 0), student_baseline: curve(0.8, 0.72, 0) },
    seedCurves: {
      student: seedIndex.map((s) => curve(1.4, 0.75, s)),
      student_baseline: seedIndex.map((s) => curve(0.8, 0.72, s)),
    },
  };
}
