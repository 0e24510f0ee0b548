/**
 * `kdq diff`: what changed between two runs' metrics.json and config.yaml, in the manner of
 * `dvc metrics diff`, and a regression gate (`--fail-on`) over metric deltas. Pure functions on
 * plain data; reading run folders is the caller's business (src/report/read-run.ts). The gate
 * language is gate.ts, the output formats diff-format.ts.
 */
import { KdqError } from '../errors.ts';
import { checkPaths, evaluateCondition, parseCondition } from './gate.ts';
import { changedPaths } from '../util/flatten.ts';
import { anyPathGlob } from '../util/path-glob.ts';
import { suggest } from '../util/suggest.ts';
import { delta, flatten, type Leaf } from './metric-values.ts';

export interface RunData {
  /** How the user named it, e.g. `runs/kd-mnist/latest` or `kd-mnist`. */
  label: string;
  metrics: unknown;
  /** The parsed config.yaml; undefined when the folder has none. */
  config?: unknown;
}

export interface MetricRow {
  /** Dotted path, array items by index: `models.student.per_class_accuracy.3`. */
  path: string;
  /** Absent when the metric is missing in that run. */
  old?: Leaf;
  new?: Leaf;
  /** new - old, rounded like metrics.json; null unless both are numbers. */
  delta: number | null;
  changed: boolean;
}

export interface ConfigRow {
  key: string;
  /** JSON text of the value; absent when the key is missing in that run. */
  old?: string;
  new?: string;
}

export interface GateResult {
  expression: string;
  crossed: boolean;
  /** The values the verdict rests on, e.g. `delta(models.student.accuracy) = -0.01`. */
  detail: string;
}

export interface RunDiff {
  old: string;
  new: string;
  /** No metric and no config key differs. */
  identical: boolean;
  /** Metrics compared (changed or not). */
  compared: number;
  /** Which metrics are listed: the headline ones (HEADLINE_METRICS), every one (`--all`), or `--only` globs. */
  selection: 'headline' | 'all' | string[];
  /** The selected metrics that changed; every selected one with `all`. */
  metrics: MetricRow[];
  /** Metrics that changed but are not listed (outside the selection). */
  hidden: number;
  config: ConfigRow[];
  /** Why the configs were not compared (a folder without config.yaml). */
  configNote?: string;
  gates: GateResult[];
}

/**
 * Keys whose subtrees the diff does not list cell by cell: a confusion matrix is 100 counts that
 * move together with the accuracies the diff already shows, training curves a few numbers per
 * epoch of every model (report.html draws both).
 */
export const DIFF_SKIPPED_KEYS = ['confusion_matrix', 'curves'] as const;

/** Every path of either document, in sorted order, with its old and new values. */
export function compareMetrics(oldM: unknown, newM: unknown): MetricRow[] {
  const a = flatten(oldM, { skip: DIFF_SKIPPED_KEYS });
  const b = flatten(newM, { skip: DIFF_SKIPPED_KEYS });
  const paths = [...new Set([...a.keys(), ...b.keys()])].sort();
  return paths.map((path) => {
    const row: MetricRow = { path, delta: delta(a.get(path), b.get(path)), changed: a.has(path) !== b.has(path) || a.get(path) !== b.get(path) };
    if (a.has(path)) row.old = a.get(path);
    if (b.has(path)) row.new = b.get(path);
    return row;
  });
}

/** Config keys whose values differ (values as JSON text). */
export function compareConfig(oldC: unknown, newC: unknown): ConfigRow[] {
  return changedPaths(oldC, newC).map((r) => ({
    key: r.path,
    ...(r.old !== undefined ? { old: JSON.stringify(r.old) } : {}),
    ...(r.new !== undefined ? { new: JSON.stringify(r.new) } : {}),
  }));
}

/**
 * What `kdq diff` lists by default, as path globs: the accuracy of every model (tf.js and .tflite)
 * and the KD gain, with their means over seeds; every .tflite file's size; how often the quantized
 * student agrees with the float one; and what the comparison rests on (backend, data). Per-class
 * accuracies, agreements with the teacher, the runtimes' own numbers and per-seed values are there
 * with `--all` or `--only`.
 */
export const HEADLINE_METRICS = [
  'kd_gain',
  'models.*.accuracy',
  'models.*.tflite.accuracy',
  'models.*.tflite.bytes',
  'models.*.tflite.agreement_with_student',
  'summary.kd_gain.mean',
  'summary.**.accuracy.mean',
  'backend.*',
  'data.*',
] as const;

/** A glob longer than this is a mistake, not a selection of metrics.json paths (each is under 100 characters). */
export const MAX_GLOB_LENGTH = 500;

export interface DiffOptions {
  /** List every metric, unchanged ones too (within `only` when given). */
  all?: boolean;
  /** List the metrics whose paths match these globs instead of the headline ones. */
  only?: readonly string[];
  /** `--fail-on` expressions. */
  failOn?: readonly string[];
}

/** Which rows to list, and how many changed rows that leaves out. */
function select(rows: MetricRow[], opts: DiffOptions): { selection: RunDiff['selection']; shown: MetricRow[]; hidden: number } {
  for (const g of opts.only ?? []) {
    if (g.length > MAX_GLOB_LENGTH)
      throw new KdqError(
        'E_USAGE',
        `--only: the glob is ${g.length} characters long, over the ${MAX_GLOB_LENGTH}-character limit; name a metrics.json path such as 'models.student_int8.**'`,
      );
    const m = anyPathGlob([g]);
    if (!rows.some((r) => m(r.path))) {
      const hint = suggest(
        g,
        rows.map((r) => r.path),
      );
      throw new KdqError(
        'E_USAGE',
        `--only '${g}' matches no metric of either run${hint ? `; did you mean '${hint}'?` : ''} (a dotted path of metrics.json: '*' matches within one segment, '**' any number of them, e.g. 'models.student_int8.**'; 'kdq diff --all' lists every path)`,
      );
    }
  }
  const selection: RunDiff['selection'] = opts.only && opts.only.length > 0 ? [...opts.only] : opts.all ? 'all' : 'headline';
  const inSelection = selection === 'all' ? () => true : anyPathGlob(selection === 'headline' ? HEADLINE_METRICS : selection);
  const shown = rows.filter((r) => inSelection(r.path) && (r.changed || opts.all));
  return { selection, shown, hidden: rows.filter((r) => r.changed && !inSelection(r.path)).length };
}

/** Compares two runs; throws E_USAGE on a bad `--fail-on` expression. */
export function diffRuns(oldRun: RunData, newRun: RunData, opts: DiffOptions = {}): RunDiff {
  const rows = compareMetrics(oldRun.metrics, newRun.metrics);
  const missing = [oldRun, newRun].filter((r) => r.config === undefined).map((r) => r.label);
  const config = missing.length === 0 ? compareConfig(oldRun.config, newRun.config) : [];
  const values = { old: flatten(oldRun.metrics), new: flatten(newRun.metrics) };
  // Parse every gate before evaluating any, so a typo in the second is not hidden by the first.
  const conditions = (opts.failOn ?? []).map((text) => ({ text, cond: parseCondition(text) }));
  for (const c of conditions) checkPaths(c.text, c.cond, values);
  const { selection, shown, hidden } = select(rows, opts);
  const out: RunDiff = {
    old: oldRun.label,
    new: newRun.label,
    identical: rows.every((r) => !r.changed) && config.length === 0,
    compared: rows.length,
    selection,
    metrics: shown,
    hidden,
    config,
    gates: conditions.map((c) => ({ expression: c.text, ...evaluateCondition(c.cond, values) })),
  };
  if (missing.length > 0) out.configNote = `config not compared: no config.yaml in ${missing.join(' and ')}`;
  return out;
}
