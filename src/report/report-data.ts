/**
 * What report.md and report.html show, as plain tables of strings: both renderers lay out the
 * same cells, so the two files cannot disagree. Nothing here varies between identical runs
 * (no timings, no dates), so a report is as reproducible as metrics.json.
 */
import { MODEL_ROLES, type ModelRole } from '../names.ts';
import type { Metrics, ModelMetrics } from './metrics.ts';
import { kib, pct, points } from './units.ts';

/** One finished training epoch, as the learning stages record it in history.json. */
export interface EpochPoint {
  /** 1-based. */
  epoch: number;
  /** Mean training loss per image (KD loss for the distilled student). */
  loss: number;
  /** Training accuracy over the epoch (fraction). */
  accuracy: number;
  /** The epoch's learning rate (training.schedule). */
  learningRate?: number;
  /** Cross-entropy of the true labels and accuracy on the held-out images (data.validationSplit > 0). */
  valLoss?: number;
  valAccuracy?: number;
}

export interface ReportInput {
  metrics: Metrics;
  /** The experiment's `description`. */
  description: string;
  /** Per-epoch training curves of the first seed, by model role (teacher, student, student_baseline). */
  curves: Partial<Record<ModelRole, EpochPoint[]>>;
  /** Every seed's curves of the roles trained once per seed, in seed order (absent with one seed). */
  seedCurves?: Partial<Record<ModelRole, EpochPoint[][]>>;
  /** Shape of one example, when the data stage recorded it. */
  inputShape?: number[];
}

/** A table: a header row and body rows of the same width. */
export interface Table {
  header: string[];
  rows: string[][];
}

/** Numbers print as everywhere else in kdq (units.ts): percentages, percentage points, KiB. */
export { kib, pct, points } from './units.ts';

/** Roles in the order of src/names.ts (teacher first): metrics.json sorts its keys alphabetically. */
export function byRole<T>(entries: [string, T][]): [string, T][] {
  const rank = (r: string) => {
    const i = (MODEL_ROLES as readonly string[]).indexOf(r);
    return i === -1 ? MODEL_ROLES.length : i;
  };
  return [...entries].sort((a, b) => rank(a[0]) - rank(b[0]) || a[0].localeCompare(b[0]));
}

function models(m: Metrics): [string, ModelMetrics][] {
  return byRole(Object.entries(m.models) as [string, ModelMetrics][]);
}

/** Sizes, accuracies and agreements of every model side by side. */
export function modelsTable(m: Metrics): Table {
  return {
    header: ['model', 'params', 'tf.js accuracy', '.tflite accuracy', '.tflite size', 'mode', 'agreement w/ student', 'agreement w/ teacher'],
    rows: models(m).map(([role, v]) => [
      role,
      v.params === undefined ? '-' : String(v.params),
      pct(v.accuracy),
      pct(v.tflite?.accuracy),
      kib(v.tflite?.bytes),
      v.tflite?.mode ?? '-',
      pct(v.tflite?.agreement_with_student),
      pct(v.tflite?.agreement_with_teacher),
    ]),
  };
}

/** A model as the accuracy-against-size chart places it. */
export interface SizedModel {
  role: string;
  /** Its .tflite file's size. */
  bytes: number;
  /** The .tflite file's accuracy (what ships); the tf.js model's only when the file has none. */
  accuracy: number;
}

/** Every model with a .tflite file, by role; models without a file have no size to place them by. */
export function sizedModels(m: Metrics): { sized: SizedModel[]; unsized: string[] } {
  const sized: SizedModel[] = [];
  const unsized: string[] = [];
  for (const [role, v] of models(m)) {
    const accuracy = v.tflite?.accuracy ?? v.accuracy;
    if (v.tflite?.bytes !== undefined && v.tflite.bytes > 0 && accuracy !== undefined) sized.push({ role, bytes: v.tflite.bytes, accuracy });
    else unsized.push(role);
  }
  return { sized, unsized };
}

/**
 * Per-class accuracy, one column per model: the tf.js model's where it has one, else its .tflite
 * file's (the quantized student exists only as a file). Null when no model reports per-class.
 */
export function perClassTable(m: Metrics): Table | null {
  const cols = models(m)
    .map(([role, v]) => {
      if (v.per_class_accuracy) return { name: `${role} (tf.js)`, values: v.per_class_accuracy };
      if (v.tflite?.per_class_accuracy) return { name: `${role} (.tflite)`, values: v.tflite.per_class_accuracy };
      return null;
    })
    .filter((c): c is { name: string; values: (number | null)[] } => c !== null);
  if (cols.length === 0) return null;
  const classes = Math.max(...cols.map((c) => c.values.length));
  const names = m.data.class_names ?? null;
  return {
    header: ['class', ...cols.map((c) => c.name)],
    rows: Array.from({ length: classes }, (_, k) => [classLabel(k, names), ...cols.map((c) => pct(c.values[k]))]),
  };
}

/** Per class, the distilled student's accuracy minus the baseline's (tf.js models, fractions); null unless both have per-class accuracy. */
export function perClassGain(m: Metrics): { k: number; gain: number }[] | null {
  const kd = m.models.student?.per_class_accuracy;
  const base = m.models.student_baseline?.per_class_accuracy;
  if (!kd || !base) return null;
  const out: { k: number; gain: number }[] = [];
  for (let k = 0; k < Math.min(kd.length, base.length); k++) {
    const a = kd[k];
    const b = base[k];
    // A class without test images has no accuracy (null): no bar.
    if (a !== null && a !== undefined && b !== null && b !== undefined) out.push({ k, gain: a - b });
  }
  return out;
}

/** A class as the report names it: `3 cat` when the data has names, else `3`. */
export function classLabel(k: number, names: readonly string[] | null): string {
  return names?.[k] !== undefined ? `${k} ${names[k]}` : String(k);
}

/** Up to this many classes the confusion matrix is a table of counts; past it, a picture and the largest mistakes. */
export const CONFUSION_TABLE_MAX_CLASSES = 20;

/** The `limit` largest off-diagonal cells: which true class was taken for which, how often, and its share of the class. */
export function topConfusions(matrix: number[][], names: readonly string[] | null, limit = 15): Table {
  const cells: { t: number; p: number; n: number }[] = [];
  matrix.forEach((row, t) => row.forEach((n, p) => n > 0 && p !== t && cells.push({ t, p, n })));
  cells.sort((a, b) => b.n - a.n || a.t - b.t || a.p - b.p);
  return {
    header: ['true class', 'predicted as', 'images', 'share of the class'],
    rows: cells.slice(0, limit).map(({ t, p, n }) => {
      const total = matrix[t].reduce((a, b) => a + b, 0);
      return [classLabel(t, names), classLabel(p, names), String(n), pct(n / total)];
    }),
  };
}

/** The quantized student's role and confusion matrix: the int8 file's when there is one. */
export function confusionOf(m: Metrics): { role: string; matrix: number[][] } | null {
  const order = ['student_int8', 'student_dynamic-range', 'student_float16', 'student'];
  for (const role of order) {
    const matrix = m.models[role as ModelRole]?.tflite?.confusion_matrix;
    if (matrix) return { role, matrix };
  }
  return null;
}

/** Per-seed accuracies and the KD gain, then mean ± std rows; null for a single seed. */
export function seedsTable(m: Metrics): Table | null {
  if (!m.seeds || !m.summary) return null;
  // Teacher first, each model's tf.js accuracy before its file's, the KD gain last.
  const keys = [
    ...byRole(
      Object.keys(m.summary)
        .filter((k) => k !== 'kd_gain')
        .map((k) => [k.split('.')[0], k] as [string, string]),
    ).map(([, k]) => k),
    ...(m.summary.kd_gain ? ['kd_gain'] : []),
  ];
  const value = (models: Metrics['models'], kdGain: number | undefined, key: string): number | undefined => {
    if (key === 'kd_gain') return kdGain;
    const [role, ...rest] = key.split('.');
    const mm = models[role as ModelRole];
    return rest.join('.') === 'tflite.accuracy' ? mm?.tflite?.accuracy : mm?.accuracy;
  };
  const cell = (key: string, v: number | undefined) => (v === undefined ? '-' : key === 'kd_gain' ? `${points(v)} pts` : pct(v));
  const rows = m.seeds.map((s) => [String(s.seed), ...keys.map((k) => cell(k, value(s.models, s.kd_gain, k)))]);
  rows.push(['mean', ...keys.map((k) => cell(k, m.summary![k].mean))]);
  rows.push([
    'std',
    ...keys.map((k) => {
      const sd = m.summary![k].std;
      return k === 'kd_gain' ? `${(sd * 100).toFixed(2)} pts` : `${(sd * 100).toFixed(2)}%`;
    }),
  ]);
  return { header: ['seed', ...keys.map(seedColumnName)], rows };
}

/**
 * A seeds-table column as people read it: `student` (its tf.js accuracy), `student .tflite` (its
 * file's), `KD gain`; the metrics.json path is what `kdq diff` and `--fail-on` name.
 */
export function seedColumnName(key: string): string {
  if (key === 'kd_gain') return 'KD gain';
  const [role, ...rest] = key.split('.');
  return rest.join('.') === 'tflite.accuracy' ? `${role} .tflite` : role;
}

/** Roles with a recorded curve, teacher first. */
export function curveRoles(curves: ReportInput['curves']): ModelRole[] {
  return byRole(Object.entries(curves).filter(([, c]) => (c?.length ?? 0) > 0)).map(([r]) => r as ModelRole);
}

/** Per epoch, the mean, lowest and highest of a value over the seeds that reached that epoch (early stopping ends some sooner). */
export interface SpreadPoint {
  epoch: number;
  mean: number;
  min: number;
  max: number;
  /** Seeds that reached the epoch and have the value. */
  n: number;
}

/** The spread of `value` over seeds, epoch by epoch; epochs no seed has a value for are left out. */
export function seedSpread(runs: readonly (readonly EpochPoint[])[], value: (p: EpochPoint) => number | undefined): SpreadPoint[] {
  const byEpoch = new Map<number, number[]>();
  for (const run of runs) {
    for (const p of run) {
      const v = value(p);
      if (v === undefined || !Number.isFinite(v)) continue;
      const vs = byEpoch.get(p.epoch);
      if (vs) vs.push(v);
      else byEpoch.set(p.epoch, [v]);
    }
  }
  return [...byEpoch]
    .sort((a, b) => a[0] - b[0])
    .map(([epoch, vs]) => ({ epoch, mean: vs.reduce((a, b) => a + b, 0) / vs.length, min: Math.min(...vs), max: Math.max(...vs), n: vs.length }));
}

/** Roles with curves from more than one seed, teacher first. */
export function spreadRoles(seedCurves: ReportInput['seedCurves']): ModelRole[] {
  return byRole(Object.entries(seedCurves ?? {}).filter(([, runs]) => (runs?.filter((r) => r.length > 0).length ?? 0) > 1)).map(([r]) => r as ModelRole);
}

/** Whether a curve has validation points (data.validationSplit > 0). */
export function hasValidation(points: readonly EpochPoint[]): boolean {
  return points.some((p) => p.valLoss !== undefined);
}

/** Whether a curve's learning rate changed from epoch to epoch (training.schedule). */
export function isScheduled(points: readonly EpochPoint[]): boolean {
  const rates = points.map((p) => p.learningRate).filter((r): r is number => r !== undefined);
  return rates.some((r) => r !== rates[0]);
}

/** `0.000854`: a learning rate to 3 significant digits. */
export const rate = (v: number | undefined): string => (v === undefined ? '-' : String(Number(v.toPrecision(3))));

/**
 * Epoch-by-epoch loss and accuracy of every trained model, then its validation loss and accuracy
 * (with a validation split) and its learning rate (with a schedule); null when no curve was recorded.
 */
export function curvesTable(curves: ReportInput['curves']): Table | null {
  const roles = curveRoles(curves);
  if (roles.length === 0) return null;
  const epochs = Math.max(...roles.map((r) => curves[r]!.length));
  const cols = roles.map((r) => ({ r, val: hasValidation(curves[r]!), lr: isScheduled(curves[r]!) }));
  return {
    header: [
      'epoch',
      ...cols.flatMap(({ r, val, lr }) => [
        `${r} loss`,
        `${r} accuracy`,
        ...(val ? [`${r} val loss`, `${r} val accuracy`] : []),
        ...(lr ? [`${r} learning rate`] : []),
      ]),
    ],
    rows: Array.from({ length: epochs }, (_, i) => [
      String(i + 1),
      ...cols.flatMap(({ r, val, lr }) => {
        const p = curves[r]![i];
        const width = 2 + (val ? 2 : 0) + (lr ? 1 : 0);
        if (!p) return Array<string>(width).fill('-');
        return [
          p.loss.toFixed(4),
          pct(p.accuracy),
          ...(val ? [p.valLoss === undefined ? '-' : p.valLoss.toFixed(4), pct(p.valAccuracy)] : []),
          ...(lr ? [rate(p.learningRate)] : []),
        ];
      }),
    ]),
  };
}

/** `wasm (tf.js 4.22.0, fma kernels)`: the backend as a reader needs it to reproduce the bits. */
export function backendText(b: Metrics['backend']): string {
  return `${b.name} (tf.js ${b.tfjs}${b.kernels !== undefined ? `, ${b.kernels} kernels` : ''})`;
}

/** One-line facts about the run: data, backend, seed, and the KD gain when there is one. */
export function factLines(m: Metrics): string[] {
  const classes = m.data.class_names ? `, ${m.data.class_names.length} classes` : '';
  const lines = [
    `data: ${m.data.source}, ${m.data.train} training / ${m.data.test} test examples${classes} (sha256 ${m.data.sha256.slice(0, 12)})`,
    `backend: ${backendText(m.backend)}, seed ${m.seed}`,
  ];
  const p = m.data.preprocessing;
  if (p) {
    const f = (v: number[]) => `[${v.map((x) => Number(x.toPrecision(4))).join(', ')}]`;
    lines.push(
      `input: value x ${Number(p.scale.toPrecision(6))}${p.mean ? `, minus mean ${f(p.mean)}` : ''}${p.std ? `, divided by std ${f(p.std)}` : ''}${p.normalize === 'auto' ? ' (computed on the training split)' : ''}`,
    );
  }
  lines.push(...importedTeacherLines(m));
  if (m.kd_gain !== undefined) lines.push(`KD gain (distilled student minus baseline, tf.js accuracy): ${points(m.kd_gain)} points`);
  const g = m.summary?.kd_gain;
  if (g) lines.push(`KD gain over ${g.n} seeds: ${points(g.mean)} ± ${(g.std * 100).toFixed(2)} points (mean ± std)`);
  const kept = byRole(Object.entries(m.models) as [string, ModelMetrics][]).filter(([, v]) => v.best_epoch !== undefined);
  if (kept.length > 0) {
    const trained = (role: string) => m.curves?.[role as ModelRole]?.length;
    const each = kept.map(([role, v]) => `${role} kept epoch ${v.best_epoch}${trained(role) ? ` of ${trained(role)} trained` : ''}`);
    lines.push(`early stopping: ${each.join(', ')}`);
  }
  return lines;
}

const FORMAT_NAMES: Record<string, string> = { onnx: 'ONNX model', 'tfjs-layers': 'TF.js LayersModel', tflite: '.tflite file' };

/**
 * An imported teacher in words: `teacher: imported ONNX model t.onnx (1 file, 1240.0 KiB, 317066
 * parameters), 99.45% on the test set in onnxruntime-node 1.31.1`, then why there is no
 * teacher.tflite when there is none. Nothing for a teacher kdq trained.
 */
export function importedTeacherLines(m: Metrics): string[] {
  const t = m.models.teacher;
  const i = t?.imported;
  if (!t || !i) return [];
  const files = `${i.files} file${i.files === 1 ? '' : 's'}, ${kib(i.bytes)}${i.params !== undefined ? `, ${i.params} parameters` : ''}`;
  const lines = [
    `teacher: imported ${FORMAT_NAMES[i.format] ?? i.format} ${i.file} (${files}), ${pct(i.accuracy)} on the test set in ${i.runtime}, outputs ${i.output}`,
  ];
  if (i.fine_tuned_epochs !== undefined)
    lines.push(
      `teacher fine-tuned for ${i.fine_tuned_epochs} epoch${i.fine_tuned_epochs === 1 ? '' : 's'} on the run's data: ${pct(t.accuracy)} on the test set`,
    );
  if (i.no_tflite !== undefined) lines.push(`no teacher.tflite: ${i.no_tflite}`);
  return lines;
}
