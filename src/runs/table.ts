/**
 * The `kdq runs` table, pure: one row per run, the key metrics as columns (means over seeds when a
 * run has several, as the sweep summary shows them), then the config keys whose values differ
 * between the listed runs; sorted by any value and filtered with `--where`.
 *
 * The values a run has, for `--sort` and `--where`, by name:
 * - the table's columns: `experiment`, `run`, `started`, `wall` (seconds), `teacher_acc`,
 *   `student_acc`, `baseline_acc`, `<mode>_acc` and `<mode>_bytes` of the quantized student
 *   (`int8_acc`, `int8_bytes`), `kd_gain`;
 * - any metrics.json path, as `kdq diff --fail-on` names it (`models.student.tflite.accuracy`);
 * - any config.yaml path (`distillation.temperature`), with a `config.` prefix where metrics.json
 *   has the same path (`config.seed`).
 */
import { KdqError } from '../errors.ts';
import { flatten, type Leaf } from '../report/metric-values.ts';
import { metricValue } from '../sweep/summary.ts';
import type { RunRecord } from './record.ts';
import { matchesWhere, parseWhere, suggestKey } from './where.ts';

/** The columns that describe a run rather than measure it. */
export const RUN_FACT_COLUMNS = ['experiment', 'run', 'started', 'wall'] as const;

/** A metric column: its key and where its value comes from. */
interface MetricColumn {
  key: string;
  /** metrics.json paths tried in order (the first a run has wins); means over seeds where there are several. */
  paths: string[];
}

/** Config keys that never make a column: the name is the row's label, the rest is prose or the sweep itself. */
const NOT_PARAMS = /^(name|description|sweep)(\.|$)/;

export interface RunsTable {
  /** Metric column keys, in display order. */
  metrics: string[];
  /** Config paths whose values differ between the listed runs, as they are titled (`config.` where metrics.json has the path too). */
  params: string[];
  rows: RunRow[];
}

export interface RunRow {
  record: RunRecord;
  /** The row's value of every column (facts, metrics, params); absent where the run has none. */
  cells: Record<string, Leaf>;
}

/** The quantized students' roles in the listed runs (`student_int8`, ...): every role but the float ones. */
function quantRoles(records: RunRecord[]): string[] {
  const roles = new Set<string>();
  for (const r of records) for (const role of Object.keys(r.metrics.models ?? {})) if (role.startsWith('student_') && role !== 'student_baseline') roles.add(role);
  return [...roles].sort();
}

function metricColumns(records: RunRecord[]): MetricColumn[] {
  const cols: MetricColumn[] = [
    { key: 'teacher_acc', paths: ['models.teacher.accuracy', 'models.teacher.tflite.accuracy'] },
    { key: 'student_acc', paths: ['models.student.accuracy', 'models.student.tflite.accuracy'] },
    { key: 'baseline_acc', paths: ['models.student_baseline.accuracy', 'models.student_baseline.tflite.accuracy'] },
  ];
  const quant = quantRoles(records).map((role) => ({ role, mode: role.slice('student_'.length).replace(/-/g, '_') }));
  cols.push(...quant.map(({ role, mode }) => ({ key: `${mode}_acc`, paths: [`models.${role}.tflite.accuracy`] })));
  cols.push({ key: 'kd_gain', paths: ['kd_gain'] });
  cols.push(...quant.map(({ role, mode }) => ({ key: `${mode}_bytes`, paths: [`models.${role}.tflite.bytes`] })));
  return cols;
}

function columnValue(r: RunRecord, c: MetricColumn): number | undefined {
  for (const p of c.paths) {
    const v = metricValue(r.metrics, p);
    if (v !== undefined) return v;
  }
  return undefined;
}

/** Every run's flattened documents, computed once. */
class Values {
  private readonly metrics = new Map<RunRecord, Map<string, Leaf>>();
  private readonly configs = new Map<RunRecord, Map<string, Leaf>>();
  metricsOf(r: RunRecord): Map<string, Leaf> {
    let m = this.metrics.get(r);
    if (!m) this.metrics.set(r, (m = flatten(r.metrics)));
    return m;
  }
  configOf(r: RunRecord): Map<string, Leaf> {
    let m = this.configs.get(r);
    if (!m) this.configs.set(r, (m = flatten(r.config ?? {})));
    return m;
  }
}

/** The config paths whose values are not the same in every listed run (missing counts as a value). */
function differingParams(records: RunRecord[], values: Values): string[] {
  const keys = new Set<string>();
  for (const r of records) for (const k of values.configOf(r).keys()) if (!NOT_PARAMS.test(k)) keys.add(k);
  const differ = [...keys].filter((k) => {
    const first = values.configOf(records[0]!).get(k);
    return records.some((r) => values.configOf(r).get(k) !== first || !values.configOf(r).has(k));
  });
  // Settings before layer details: a changed architecture differs in many layer keys.
  const layered = (k: string) => (/\.layers\./.test(k) ? 1 : 0);
  return differ.sort((a, b) => layered(a) - layered(b) || (a < b ? -1 : a > b ? 1 : 0));
}

export interface TableOptions {
  /** `KEY` ascending, `-KEY` descending; default: by start time, oldest first. */
  sort?: string;
  /** `--where` expressions; a run is listed when every one holds. */
  where?: readonly string[];
}

/** Builds the table of `records`: columns, cells, `--where` filter and `--sort` order. Throws E_USAGE on an unknown key. */
export function buildRunsTable(records: RunRecord[], opts: TableOptions = {}): RunsTable {
  const values = new Values();
  const metricCols = metricColumns(records).filter((c) => records.some((r) => columnValue(r, c) !== undefined));
  const clash = (k: string) => records.some((r) => values.metricsOf(r).has(k)) || [...RUN_FACT_COLUMNS, ...metricCols.map((c) => c.key)].includes(k);
  const paramPaths = records.length > 1 ? differingParams(records, values) : [];
  const titled = paramPaths.map((p) => ({ path: p, title: clash(p) ? `config.${p}` : p }));

  const allMetricCols = metricColumns(records);
  /** A run's value by any name `--sort` and `--where` accept. */
  const lookup = (r: RunRecord, key: string): Leaf | undefined => {
    switch (key) {
      case 'experiment':
        return r.name;
      case 'run':
        return r.id;
      case 'started':
        return r.startedAt;
      case 'wall':
        return r.seconds;
    }
    const col = allMetricCols.find((c) => c.key === key);
    if (col) return columnValue(r, col);
    if (key.startsWith('config.')) {
      const v = values.configOf(r).get(key.slice('config.'.length));
      if (v !== undefined) return v;
    }
    return values.metricsOf(r).get(key) ?? values.configOf(r).get(key);
  };
  const known = (key: string) => records.some((r) => lookup(r, key) !== undefined);
  const candidates = () => {
    const all = new Set<string>([...RUN_FACT_COLUMNS, ...metricCols.map((c) => c.key)]);
    for (const r of records) {
      for (const k of values.metricsOf(r).keys()) all.add(k);
      for (const k of values.configOf(r).keys()) all.add(k);
    }
    return [...all];
  };

  const conds = parseWhere(opts.where ?? [], known, candidates);
  const kept = records.filter((r) => conds.every((c) => matchesWhere(c, (k) => lookup(r, k))));

  const sortText = opts.sort ?? 'started';
  const descending = sortText.startsWith('-');
  const sortKey = descending ? sortText.slice(1) : sortText;
  if (opts.sort !== undefined && !known(sortKey) && records.length > 0) {
    const hint = suggestKey(sortKey, candidates());
    throw new KdqError('E_USAGE', `--sort '${opts.sort}': no run listed has a value '${sortKey}'${hint ? `; did you mean '${hint}'?` : ''} (a column of the table, a metrics.json or config.yaml path; '-KEY' sorts descending)`);
  }
  const order = (a: RunRecord, b: RunRecord): number => {
    const va = lookup(a, sortKey) ?? undefined;
    const vb = lookup(b, sortKey) ?? undefined;
    // Runs without the value go last whichever the direction; ties keep start order.
    if (va === undefined || vb === undefined) return va === vb ? 0 : va === undefined ? 1 : -1;
    const c = typeof va === 'number' && typeof vb === 'number' ? va - vb : String(va) < String(vb) ? -1 : String(va) > String(vb) ? 1 : 0;
    return descending ? -c : c;
  };
  const byStart = (a: RunRecord, b: RunRecord) => (a.startedAt ?? '').localeCompare(b.startedAt ?? '') || a.ref.localeCompare(b.ref);
  const sorted = [...kept].sort(byStart).sort(order);

  const rows = sorted.map((r) => {
    const cells: Record<string, Leaf> = {};
    for (const k of RUN_FACT_COLUMNS) {
      const v = lookup(r, k);
      if (v !== undefined) cells[k] = v;
    }
    for (const c of metricCols) {
      const v = columnValue(r, c);
      if (v !== undefined) cells[c.key] = v;
    }
    for (const p of titled) {
      const v = values.configOf(r).get(p.path);
      if (v !== undefined) cells[p.title] = v;
    }
    return { record: r, cells };
  });
  return { metrics: metricCols.map((c) => c.key), params: titled.map((p) => p.title), rows };
}
