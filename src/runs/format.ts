/**
 * `kdq runs` output: aligned columns (default), a GitHub table (--md), CSV (--csv) and JSON
 * (--json). Text and Markdown print numbers for people (report/units.ts: `97.05%`, `-2.60 pt`,
 * hashes shortened) and at most MAX_PARAM_COLUMNS differing settings; CSV and JSON every setting,
 * with the values of metrics.json and config.yaml as they are.
 */
import type { Leaf } from '../report/metric-values.ts';
import { escapeMdCell } from '../report/report-md.ts';
import { formatValue, shortenHashes } from '../report/units.ts';
import { RUN_FACT_COLUMNS, type RunsTable } from './table.ts';

/** More differing settings than this go to a line under the table (CSV and JSON have them all). */
export const MAX_PARAM_COLUMNS = 6;

/** `2026-12-07 05:34` (UTC, as run ids are). */
function date(iso: string): string {
  return iso.slice(0, 16).replace('T', ' ');
}

/** `8.2s`, `3m 05s`, `1h 02m`. */
export function duration(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const s = Math.round(seconds);
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

function cell(key: string, v: Leaf | undefined): string {
  if (v === undefined || v === null) return '-';
  if (key === 'started' && typeof v === 'string') return date(v);
  if (key === 'wall' && typeof v === 'number') return duration(v);
  if (typeof v === 'number') return formatValue(key, v);
  return shortenHashes(String(v));
}

interface Shown {
  columns: string[];
  /** Differing settings left out of the table. */
  more: string[];
}

function shown(t: RunsTable): Shown {
  const params = t.params.slice(0, MAX_PARAM_COLUMNS);
  return { columns: [...RUN_FACT_COLUMNS, ...t.metrics, ...params], more: t.params.slice(MAX_PARAM_COLUMNS) };
}

/** The first column: the experiment, with a sweep point's values. */
function rowCells(t: RunsTable, columns: string[]): string[][] {
  return t.rows.map((row) => columns.map((c) => (c === 'experiment' ? row.record.label : cell(c, row.cells[c]))));
}

function notes(t: RunsTable, s: Shown, total: number): string[] {
  const out: string[] = [];
  if (s.more.length > 0) {
    out.push(`${s.more.length} more setting${s.more.length === 1 ? '' : 's'} differ (${s.more.slice(0, 3).join(', ')}${s.more.length > 3 ? ', ...' : ''}): --csv and --json list every one`);
  }
  if (t.rows.length < total) out.push(`${t.rows.length} of ${total} runs match --where`);
  return out;
}

const NUMERIC = (c: string) => c === 'wall' || c.endsWith('_acc') || c.endsWith('_bytes') || c === 'kd_gain';

/** The default output. `total`: how many runs there were before `--where`. */
export function formatRunsText(t: RunsTable, total: number): string {
  if (total === 0) return 'no runs';
  const s = shown(t);
  const rows = [s.columns, ...rowCells(t, s.columns)];
  const widths = s.columns.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map((r) => r.map((x, i) => (NUMERIC(s.columns[i]!) ? x.padStart(widths[i]!) : x.padEnd(widths[i]!))).join('  ').trimEnd());
  return [...(t.rows.length > 0 ? lines : []), ...notes(t, s, total)].join('\n');
}

export function formatRunsMd(t: RunsTable, total: number): string {
  if (total === 0) return 'No runs.\n';
  const s = shown(t);
  const out = [`| ${s.columns.join(' | ')} |`, `|${s.columns.map((c) => (NUMERIC(c) ? ' ---: ' : ' --- ')).join('|')}|`];
  for (const r of rowCells(t, s.columns)) out.push(`| ${r.map(escapeMdCell).join(' | ')} |`);
  const n = notes(t, s, total);
  return [...out, ...(n.length > 0 ? ['', ...n.map(escapeMdCell)] : [])].join('\n') + '\n';
}

function csvField(v: Leaf | undefined): string {
  if (v === undefined || v === null) return '';
  const s = String(v);
  return /[",\r\n]/.test(s) || /^\s|\s$/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Every column, values as stored: fractions, ISO start, seconds; `ref` names the run to other kdq commands. */
export function formatRunsCsv(t: RunsTable): string {
  const columns = ['label', ...RUN_FACT_COLUMNS, 'ref', ...t.metrics, ...t.params];
  const lines = [columns.join(',')];
  for (const row of t.rows) {
    lines.push(columns.map((c) => csvField(c === 'label' ? row.record.label : c === 'ref' ? row.record.ref : row.cells[c])).join(','));
  }
  return lines.join('\n') + '\n';
}

export function formatRunsJson(t: RunsTable): string {
  const rows = t.rows.map(({ record: r, cells }) => ({
    experiment: r.name,
    run: r.id,
    label: r.label,
    ref: r.ref,
    dir: r.dir,
    ...(r.startedAt !== undefined ? { startedAt: r.startedAt } : {}),
    ...(r.seconds !== undefined ? { seconds: r.seconds } : {}),
    ...(r.sweep ? { sweep: r.sweep } : {}),
    metrics: Object.fromEntries(t.metrics.filter((k) => k in cells).map((k) => [k, cells[k]])),
    params: Object.fromEntries(t.params.filter((k) => k in cells).map((k) => [k, cells[k]])),
  }));
  return JSON.stringify({ metrics: t.metrics, params: t.params, runs: rows }, null, 2) + '\n';
}
