/**
 * The sweep summary, pure: one row per point with its parameters and key metrics, sorted by the
 * rank metric (highest first, ties in point order), the best point marked. summary.json is the
 * plain data (sortable by any column); summary.md is the same table for people.
 */
import { canonicalMetrics, type Metrics } from '../report/metrics.ts';
import { formatValue, isFraction } from '../report/units.ts';

export interface PointOutcome {
  id: string;
  params: Record<string, unknown>;
  /** The point's run folder relative to the runs folder (`<name>-p1/<run-id>`); null when it failed. */
  runDir: string | null;
  metrics: Metrics | null;
  /** Why the point failed. */
  error?: string;
}

export interface SweepRow {
  id: string;
  params: Record<string, unknown>;
  /** Column (a metrics.json path) -> value; missing columns are absent. */
  metrics: Record<string, number>;
  /** The point's run folder relative to the runs folder, so a copied runs folder reads the same. */
  run: string | null;
  best: boolean;
  error?: string;
}

export interface SweepSummary {
  experiment: string;
  sweep: string;
  /** The metrics.json path that orders the rows, highest first. */
  rank: string;
  /** When the points ran several seeds, every value is the mean over seeds. */
  seeds: number;
  keys: string[];
  columns: string[];
  rows: SweepRow[];
}

/**
 * The default ranking: the quantized student's .tflite accuracy when every point has the same
 * quantized role (that file is what gets deployed), else the distilled student's accuracy.
 */
export function defaultRank(points: PointOutcome[]): string {
  const quantRoles = new Set<string>();
  for (const p of points) {
    if (!p.metrics) continue;
    const roles = Object.keys(p.metrics.models).filter((r) => r.startsWith('student_') && r !== 'student_baseline');
    quantRoles.add(roles.join(','));
  }
  const [only] = [...quantRoles];
  return quantRoles.size === 1 && only !== '' && !only!.includes(',') ? `models.${only}.tflite.accuracy` : 'models.student.accuracy';
}

/**
 * Reads a metrics.json path such as `models.student.accuracy`. With several seeds the mean over
 * seeds is used when metrics.summary has one (`student.accuracy`, `kd_gain`).
 */
export function metricValue(m: Metrics, path: string): number | undefined {
  if (m.summary) {
    const summaryKey = path.startsWith('models.') ? path.slice('models.'.length) : path;
    const s = m.summary[summaryKey];
    if (s) return s.mean;
  }
  let cur: unknown = m;
  for (const seg of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[seg];
  }
  return typeof cur === 'number' ? cur : undefined;
}

/** The columns worth a glance, in this order, kept when at least one point has them. */
function candidateColumns(points: PointOutcome[], rank: string): string[] {
  const roles = new Set<string>();
  for (const p of points) for (const r of Object.keys(p.metrics?.models ?? {})) roles.add(r);
  const quant = [...roles].filter((r) => r.startsWith('student_') && r !== 'student_baseline').sort();
  const cols = [
    'models.teacher.accuracy',
    'models.student.accuracy',
    'models.student_baseline.accuracy',
    'kd_gain',
    ...quant.flatMap((r) => [`models.${r}.tflite.accuracy`, `models.${r}.tflite.bytes`]),
  ];
  if (!cols.includes(rank)) cols.unshift(rank);
  return cols.filter((c) => points.some((p) => p.metrics && metricValue(p.metrics, c) !== undefined));
}

export function buildSweepSummary(experiment: string, sweepId: string, keys: string[], points: PointOutcome[], rank?: string | null): SweepSummary {
  const rankPath = rank ?? defaultRank(points);
  const columns = candidateColumns(points, rankPath);
  const rows: SweepRow[] = points.map((p) => {
    const metrics: Record<string, number> = {};
    for (const c of columns) {
      const v = p.metrics ? metricValue(p.metrics, c) : undefined;
      if (v !== undefined) metrics[c] = v;
    }
    return { id: p.id, params: p.params, metrics, run: p.runDir, best: false, ...(p.error !== undefined ? { error: p.error } : {}) };
  });
  const order = new Map(points.map((p, i) => [p.id, i]));
  rows.sort((a, b) => {
    const va = a.metrics[rankPath];
    const vb = b.metrics[rankPath];
    if (va === undefined || vb === undefined) return va === vb ? order.get(a.id)! - order.get(b.id)! : va === undefined ? 1 : -1;
    return vb - va || order.get(a.id)! - order.get(b.id)!;
  });
  if (rows[0] && rows[0].metrics[rankPath] !== undefined) rows[0].best = true;
  const seeds = Math.max(1, ...points.map((p) => p.metrics?.seeds?.length ?? 1));
  return { experiment, sweep: sweepId, rank: rankPath, seeds, keys, columns, rows };
}

/** A swept parameter's value as text: a string as it is, anything else as JSON; nothing for none. */
export const paramText = (v: unknown): string => (v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v));

const cell = (v: unknown): string => paramText(v).replace(/\|/g, '\\|');

/** A summary value as summary.md and summary.html print it: fractions as percentages, counts whole. */
export function formatNumber(column: string, v: number | undefined): string {
  if (v === undefined) return '';
  if (isFraction(column)) return formatValue(column, v);
  return Number.isInteger(v) ? String(v) : String(canonicalMetrics(v));
}

/** A short column title: `models.student_int8.tflite.accuracy` -> `student_int8 tflite acc`. */
export function columnTitle(column: string): string {
  return column
    .replace(/^models\./, '')
    .replace(/\.accuracy$/, ' acc')
    .replace(/\./g, ' ');
}

/** summary.md: a title, the ranking rule, the table (best first) and the failed points. */
export function formatSweepMarkdown(s: SweepSummary): string {
  const head = ['', 'point', ...s.keys, ...s.columns.map(columnTitle), 'run'];
  const lines = [
    `# Sweep ${s.sweep} of ${s.experiment}`,
    '',
    `${s.rows.length} point${s.rows.length === 1 ? '' : 's'}, ranked by \`${s.rank}\` (highest first)${s.seeds > 1 ? `; values are means over ${s.seeds} seeds` : ''}. ★ marks the best point.`,
    '',
    `| ${head.join(' | ')} |`,
    `|${head.map(() => '---').join('|')}|`,
  ];
  for (const r of s.rows) {
    const cells = [
      r.best ? '★' : '',
      r.id,
      ...s.keys.map((k) => cell(r.params[k])),
      ...s.columns.map((c) => formatNumber(c, r.metrics[c])),
      r.error ? `failed: ${cell(r.error)}` : cell(r.run ?? ''),
    ];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n') + '\n';
}

/** summary.json: the summary with floats rounded like metrics.json, so equal sweeps give equal files (run paths aside). */
export function serializeSweepSummary(s: SweepSummary): string {
  const rows = s.rows.map((r) => ({ ...r, metrics: canonicalMetrics(r.metrics) }));
  return JSON.stringify({ ...s, rows }, null, 2) + '\n';
}
