/**
 * `report`: gathers what the model, export and evaluate stages left in their folders into one
 * metrics.json (plain, stable data). Never cached: it is cheap and its output goes to the run folder.
 */
import { isModelRole, type ModelRole } from '../names.ts';
import { PUBLISH_FILE, type PublishList } from '../pipeline/publish.ts';
import type { StageInput } from '../pipeline/stage.ts';
import {
  runtimeMetrics,
  serializeMetrics,
  summarizeSeeds,
  type CurvePoint,
  type DataMetrics,
  type ImportedTeacherMetrics,
  type Metrics,
  type ModelsMetrics,
  type SeedMetrics,
  type Timings,
} from '../report/metrics.ts';
import { isDefaultInput } from '../data/input-description.ts';
import type { ElementType } from '../data/formats/types.ts';
import { readJson, writeJson, type StageServices } from './context.ts';
import { DATA_INFO, type DataStageInfo } from './data.ts';
import { EVALUATION_FILE, type Evaluation, type EvaluationSkipped } from './evaluate.ts';
import { TEACHER_INFO, hasHistory, type ImportedTeacherInfo } from './imported-teacher.ts';
import { EXPORT_INFO, TFLITE_FILE, type ExportInfo, type ExportSkipped } from './export.ts';
import { EVAL_FILE, HISTORY_FILE, type ModelEval } from './model-files.ts';
import type { KdStageDefinition } from './types.ts';
import type { TrainHistory } from '../train/train.ts';
import { perClassFromConfusion } from '../train/metrics.ts';
import type { EpochPoint, ReportInput } from '../report/report-data.ts';
import { renderReportMd } from '../report/report-md.ts';
import { renderReportHtml } from '../report/report-html.ts';
import { writeFile } from 'node:fs/promises';
import { KdqError } from '../errors.ts';
import { join } from 'node:path';

export const METRICS_FILE = 'metrics.json';
export const TIMINGS_FILE = 'timings.json';
export const REPORT_MD = 'report.md';
export const REPORT_HTML = 'report.html';
/** What the report stage writes for the run folder. */
export const REPORT_FILES = [METRICS_FILE, TIMINGS_FILE, REPORT_MD, REPORT_HTML] as const;
/** Where each role's .tflite file is copied in the run folder. */
export const TFLITE_NAMES: Record<ModelRole, string> = {
  teacher: 'teacher.tflite',
  student: 'student.tflite',
  student_baseline: 'student-baseline.tflite',
  student_int8: 'student-int8.tflite',
  'student_dynamic-range': 'student-dynamic-range.tflite',
  student_float16: 'student-float16.tflite',
};

export function reportStage(services: StageServices): KdStageDefinition<'report'> {
  return {
    kind: 'report',
    version: 2,
    cacheable: false,
    async run(ctx) {
      const perSeed = new Map<number, ModelsMetrics>();
      let dataInfo: DataStageInfo | undefined;
      const timings: Timings = { latency_ms_per_image: {}, runtime: {} };
      const curves: ReportInput['curves'] = {};
      /** Every learning stage's curve once (a shared teacher is listed under every seed), by role. */
      const seedRuns = new Map<string, { role: ModelRole; seed: number; points: EpochPoint[] }>();
      // One shared teacher (evaluation.teacherSeed) is reported under every seed.
      const sharedTeacher = ctx.config.teacherSeed !== null;
      // So is an imported teacher used as it is: its stages have no seed.
      const entries = Object.values(ctx.inputs).flatMap((stage: StageInput) => {
        const seeds = (sharedTeacher || stage.seed === undefined) && stage.role === 'teacher' ? ctx.config.seeds : [stage.seed ?? ctx.config.seeds[0]];
        return seeds.map((seed) => ({ stage, seed }));
      });
      const published: PublishList = REPORT_FILES.map((file) => ({ path: file, stage: ctx.stage.id, file }));
      /** Why a seed's imported teacher has no .tflite, when its evaluate came before its model stage. */
      const noTflite = new Map<number, string>();
      for (const { stage, seed } of entries) {
        const { dir } = stage;
        if (stage.kind === 'export') continue;
        const models = perSeed.get(seed) ?? {};
        perSeed.set(seed, models);
        if (stage.kind === 'data') {
          dataInfo ??= await readJson<DataStageInfo>(dir, DATA_INFO);
          continue;
        }
        const role = stage.role;
        if (!isModelRole(role)) throw new KdqError('E_INTERNAL', `report: input ${stage.id} (${stage.kind}) has no model role`);
        if (stage.kind === 'imported-teacher') {
          const info = await readJson<ImportedTeacherInfo>(dir, TEACHER_INFO);
          const m = (models[role] ??= {});
          if (info.params !== undefined) m.params = info.params;
          m.accuracy = info.accuracy;
          if (ctx.config.metrics.includes('perClass')) m.per_class_accuracy = info.per_class_accuracy;
          m.imported = importedMetrics(info);
          if (seed === ctx.config.seeds[0] && (await hasHistory(dir))) curves[role] = curveOf(await readJson<TrainHistory>(dir, HISTORY_FILE));
        } else if (stage.kind === 'teacher' || stage.kind === 'student' || stage.kind === 'baseline') {
          const ev = await readJson<ModelEval>(dir, EVAL_FILE);
          const m = (models[role] ??= {});
          m.params = ev.params;
          m.accuracy = ev.accuracy;
          if (ctx.config.metrics.includes('perClass')) m.per_class_accuracy = ev.per_class_accuracy;
          const history = await readJson<TrainHistory>(dir, HISTORY_FILE);
          if (history.earlyStopping) m.best_epoch = history.earlyStopping.bestEpoch;
          const curve = curveOf(history);
          if (seed === ctx.config.seeds[0]) curves[role] = curve;
          if (stage.seed !== undefined) seedRuns.set(stage.id, { role, seed: stage.seed, points: curve });
        } else if (stage.kind === 'evaluate') {
          const ev = await readJson<Evaluation | EvaluationSkipped>(dir, EVALUATION_FILE);
          if ('skipped' in ev) {
            // Only an imported teacher's export is ever skipped; the report says why there is no file.
            const m = (models[role] ??= {});
            if (m.imported) m.imported.no_tflite = ev.skipped;
            else noTflite.set(seed, ev.skipped);
            continue;
          }
          if (seed === ctx.config.seeds[0] && ctx.config.metrics.includes('latency')) {
            timings.latency_ms_per_image[role] = ev.latencyMsPerImage;
            timings.runtime[role] = ev.runtimeVersion;
          }
          const m = (models[role] ??= {});
          m.tflite = {
            file: TFLITE_NAMES[role],
            bytes: ev.bytes,
            accuracy: ev.accuracy,
            runtime: ev.runtimeVersion,
            ...(ev.runtimes ? { runtimes: runtimeMetrics(ev.runtimes) } : {}),
            mode: ev.mode,
            input_type: ev.inputType,
            output_type: ev.outputType,
            ...(ev.agreement.student !== undefined ? { agreement_with_student: ev.agreement.student } : {}),
            ...(ev.agreement.teacher !== undefined ? { agreement_with_teacher: ev.agreement.teacher } : {}),
            ...(ctx.config.metrics.includes('perClass') ? { per_class_accuracy: perClassFromConfusion(ev.confusion) } : {}),
            ...(ctx.config.metrics.includes('confusion') ? { confusion_matrix: ev.confusion } : {}),
          };
        }
      }
      const seeds: SeedMetrics[] = ctx.config.seeds.map((seed) => {
        const models = perSeed.get(seed) ?? {};
        const imported = models.teacher?.imported;
        if (imported && noTflite.has(seed)) imported.no_tflite = noTflite.get(seed);
        const kd = models.student?.accuracy;
        const base = models.student_baseline?.accuracy;
        return { seed, models, ...(kd !== undefined && base !== undefined ? { kd_gain: kd - base } : {}) };
      });
      const first = seeds[0];
      const metrics: Metrics = {
        experiment: ctx.config.name,
        seed: first.seed,
        backend: {
          name: services.env.backend.name,
          tfjs: services.env.backend.tfjs,
          ...(services.env.backend.kernels !== undefined ? { kernels: services.env.backend.kernels } : {}),
        },
        data: dataInfo ? dataMetrics(dataInfo) : { source: 'unknown', train: 0, test: 0, sha256: '' },
        models: first.models,
        ...(first.kd_gain !== undefined ? { kd_gain: first.kd_gain } : {}),
        ...(Object.keys(curves).length > 0 ? { curves: metricsCurves(curves) } : {}),
        ...(seeds.length > 1 ? { seeds, summary: summarizeSeeds(seeds) } : {}),
      };
      const metricsJson = serializeMetrics(metrics);
      await writeFile(join(ctx.outDir, METRICS_FILE), metricsJson);
      await writeFile(join(ctx.outDir, TIMINGS_FILE), serializeMetrics(timings));
      // The report shows the rounded numbers of metrics.json, not the raw ones.
      const report: ReportInput = {
        metrics: JSON.parse(metricsJson) as Metrics,
        description: ctx.config.description,
        curves,
        ...(seeds.length > 1 ? { seedCurves: seedCurvesOf([...seedRuns.values()], ctx.config.seeds) } : {}),
        ...(dataInfo?.inputShape ? { inputShape: dataInfo.inputShape } : {}),
      };
      await writeFile(join(ctx.outDir, REPORT_MD), renderReportMd(report));
      await writeFile(join(ctx.outDir, REPORT_HTML), renderReportHtml(report));
      // Every exported file goes into the run folder beside the reports; other seeds' under seed-<n>/.
      for (const stage of Object.values(ctx.inputs)) {
        if (stage.kind !== 'export' || !isModelRole(stage.role) || (await exportSkipped(stage.dir))) continue;
        const name = TFLITE_NAMES[stage.role];
        published.push({
          path: stage.seed === undefined || stage.seed === ctx.config.seeds[0] ? name : `seed-${stage.seed}/${name}`,
          stage: stage.id,
          file: TFLITE_FILE,
        });
      }
      await writeJson(ctx.outDir, PUBLISH_FILE, published);
    },
  };
}

/**
 * A learning stage's loss, accuracy, learning rate and validation per epoch (its timings stay out:
 * the report is reproducible). A history written before a key existed just lacks it.
 */
function curveOf(h: TrainHistory): EpochPoint[] {
  return h.epochs.map((e) => ({
    epoch: e.epoch,
    loss: e.loss,
    accuracy: e.accuracy,
    ...(e.learningRate !== undefined ? { learningRate: e.learningRate } : {}),
    ...(e.valLoss !== undefined ? { valLoss: e.valLoss } : {}),
    ...(e.valAccuracy !== undefined ? { valAccuracy: e.valAccuracy } : {}),
  }));
}

/** Each role's curves in the order of evaluation.seeds (the report's seed spread; metrics.json keeps the first seed's only). */
function seedCurvesOf(runs: { role: ModelRole; seed: number; points: EpochPoint[] }[], seeds: readonly number[]): ReportInput['seedCurves'] {
  const out: NonNullable<ReportInput['seedCurves']> = {};
  const sorted = [...runs].sort((a, b) => seeds.indexOf(a.seed) - seeds.indexOf(b.seed));
  for (const r of sorted) (out[r.role] ??= []).push(r.points);
  return out;
}

/** The curves as metrics.json keeps them (snake_case, like every other metrics.json key). */
function metricsCurves(curves: ReportInput['curves']): Partial<Record<ModelRole, CurvePoint[]>> {
  const out: Partial<Record<ModelRole, CurvePoint[]>> = {};
  for (const [role, points] of Object.entries(curves) as [ModelRole, EpochPoint[]][]) {
    out[role] = points.map((p) => ({
      epoch: p.epoch,
      loss: p.loss,
      accuracy: p.accuracy,
      learning_rate: p.learningRate,
      // NaN (held-out images that were all NaN) is not JSON: such a point just has no validation.
      val_loss: Number.isFinite(p.valLoss) ? p.valLoss : undefined,
      val_accuracy: p.valLoss !== undefined && Number.isFinite(p.valLoss) ? p.valAccuracy : undefined,
    }));
  }
  return out;
}

/** What metrics.json keeps of an imported teacher. */
function importedMetrics(info: ImportedTeacherInfo): ImportedTeacherMetrics {
  return {
    format: info.format,
    file: info.file,
    files: info.files,
    bytes: info.bytes,
    sha256: info.sha256,
    ...(info.params !== undefined ? { params: info.params } : {}),
    runtime: info.runtime,
    output: info.output,
    accuracy: info.importedAccuracy,
    ...(info.fineTunedEpochs !== undefined ? { fine_tuned_epochs: info.fineTunedEpochs } : {}),
    ...(info.noTflite !== undefined ? { no_tflite: info.noTflite } : {}),
  };
}

/** Whether an export stage wrote no file (an imported teacher kdq cannot write as .tflite). */
async function exportSkipped(dir: string): Promise<boolean> {
  try {
    return 'skipped' in (await readJson<ExportInfo | ExportSkipped>(dir, EXPORT_INFO));
  } catch (e) {
    // A folder without export.json is not a skipped export (a stage of another kind's layout).
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

/**
 * metrics.json's `data`: the counts and hash, the class names where the data has them, and the
 * preprocessing unless it is the default of uint8 images (value / 255), so the metrics of a run
 * on such data read as they always have.
 */
export function dataMetrics(d: DataStageInfo): DataMetrics {
  const p = d.preprocessing;
  const usual = p === undefined || isDefaultInput({ dtype: (d.dtype ?? 'uint8') as ElementType, preprocessing: p });
  return {
    source: d.source,
    train: d.train,
    test: d.test,
    sha256: d.sha256,
    ...(d.classNames ? { class_names: d.classNames } : {}),
    ...(!usual && p
      ? { preprocessing: { scale: p.scale, ...(p.mean ? { mean: p.mean } : {}), ...(p.std ? { std: p.std } : {}), normalize: p.normalize } }
      : {}),
  };
}
