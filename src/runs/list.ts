/**
 * `kdq runs` and `kdq runs rm` composed: find the run folders, read them, build the table, print
 * it or remove the rows. Reads only small JSON and YAML files: no tf.js, no stage code.
 */
import { KdqError } from '../errors.ts';
import { findRuns } from './find.ts';
import { formatRunsCsv, formatRunsJson, formatRunsMd, formatRunsText } from './format.ts';
import { readRecord, type RunRecord } from './record.ts';
import { removeRuns } from './remove.ts';
import { buildRunsTable, type RunsTable, type TableOptions } from './table.ts';

export type RunsFormat = 'text' | 'md' | 'json' | 'csv';

export interface RunsOptions extends TableOptions {
  runsDir: string;
  format?: RunsFormat;
}

export interface RunsOutcome {
  output: string;
  /** Run folders that could not be read (damaged metrics.json, ...), one line each. */
  warnings: string[];
  table: RunsTable;
}

function readAll(selectors: readonly string[], runsDir: string, warnings: string[]): RunRecord[] {
  const out: RunRecord[] = [];
  for (const f of findRuns(runsDir, selectors)) {
    try {
      const r = readRecord(f.dir, runsDir);
      // `NAME` also names its sweep points, `NAME-p<N>`: only runs that are such a point.
      if (f.sweepOf === undefined || (r.sweep && r.name === `${f.sweepOf}-${r.sweep.point}`)) out.push(r);
    } catch (e) {
      if (!(e instanceof KdqError)) throw e;
      warnings.push(`skipped ${f.dir}: ${e.message}`);
    }
  }
  return out;
}

/** `kdq runs [NAME|ID|PATH ...]`: the table of the runs named (every run under the runs folder when none is). */
export async function listRuns(selectors: readonly string[], opts: RunsOptions): Promise<RunsOutcome> {
  const warnings: string[] = [];
  const records = readAll(selectors, opts.runsDir, warnings);
  const table = buildRunsTable(records, opts);
  const format = opts.format ?? 'text';
  const output =
    format === 'json' ? formatRunsJson(table) : format === 'csv' ? formatRunsCsv(table) : format === 'md' ? formatRunsMd(table, records.length) : formatRunsText(table, records.length);
  return { output: records.length === 0 && format === 'text' ? `no runs under ${opts.runsDir}` : output, warnings, table };
}

/** `kdq runs rm NAME|ID|PATH ... [--where EXPR] [--dry-run]`: removes the run folders named (and matching). */
export async function removeListedRuns(selectors: readonly string[], opts: RunsOptions & { cacheDir: string; dryRun?: boolean }): Promise<{ output: string; warnings: string[] }> {
  if (selectors.length === 0 && (opts.where ?? []).length === 0) {
    throw new KdqError('E_USAGE', "'kdq runs rm' needs the runs to remove: name experiments, run ids or run folders, or pass --where 'EXPR' (add --dry-run to see the list first)");
  }
  const warnings: string[] = [];
  const records = readAll(selectors, opts.runsDir, warnings);
  const table = buildRunsTable(records, { where: opts.where });
  if (table.rows.length === 0) return { output: 'no run folder matches: nothing removed', warnings };
  const output = await removeRuns(
    table.rows.map((r) => r.record),
    { runsDir: opts.runsDir, cacheDir: opts.cacheDir, dryRun: opts.dryRun },
  );
  return { output, warnings };
}
