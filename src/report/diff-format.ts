/**
 * `kdq diff`'s output: a plain table (default), GitHub tables (--md), JSON (--json). The tables
 * print numbers for people (units.ts: `97.05%`, changes in percentage points, hashes shortened);
 * JSON keeps metrics.json's values exactly.
 */
import type { MetricRow, RunDiff } from './diff.ts';
import type { Leaf } from './metric-values.ts';
import { formatChange, formatValue, shortenHashes } from './units.ts';

function leaf(path: string, v: Leaf | undefined): string {
  if (v === undefined) return '-';
  if (typeof v === 'number') return formatValue(path, v);
  return shortenHashes(typeof v === 'string' ? v : JSON.stringify(v));
}

function change(r: MetricRow): string {
  if (r.delta !== null) return formatChange(r.path, r.delta);
  if (r.old === undefined) return 'added';
  if (r.new === undefined) return 'removed';
  return r.changed ? 'changed' : '-';
}

function textTable(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows
    .map((r) =>
      r
        .map((cell, c) => cell.padEnd(widths[c]))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** The line about changed metrics left out of the table, or null when none were. */
function hiddenNote(d: RunDiff): string | null {
  if (d.hidden === 0) return null;
  const what = d.selection === 'headline' ? 'other metrics changed (per-class accuracies, agreements, runtimes)' : 'other metrics changed';
  return `${d.metrics.length === 0 ? 'no listed metric changed; ' : ''}${d.hidden} ${what}: --all lists every metric, --only GLOB picks paths`;
}

function metricsLine(d: RunDiff): string {
  return d.selection === 'headline' ? `metrics: identical (${d.compared} compared)` : `metrics: none of the selected metrics changed (${d.compared} compared)`;
}

/** The default output: aligned columns, like `dvc metrics diff`. The headline of a small change fits in a dozen lines. */
export function formatDiffText(d: RunDiff): string {
  // The table follows the two labels directly, and the note the table, to keep it short.
  const out = [`old: ${d.old}`, `new: ${d.new}`];
  const note = hiddenNote(d);
  if (d.metrics.length > 0)
    out.push(textTable([['Metric', 'Old', 'New', 'Change'], ...d.metrics.map((r) => [r.path, leaf(r.path, r.old), leaf(r.path, r.new), change(r)])]));
  else out.push('', note === null ? metricsLine(d) : note);
  if (d.metrics.length > 0 && note !== null) out.push(note);
  out.push('');
  if (d.configNote) out.push(d.configNote);
  else if (d.config.length === 0) out.push('config: identical');
  else out.push(textTable([['Config key', 'Old', 'New'], ...d.config.map((r) => [r.key, shortenHashes(r.old ?? '-'), shortenHashes(r.new ?? '-')])]));
  for (const [i, g] of d.gates.entries())
    out.push(...(i === 0 ? [''] : []), `${g.crossed ? 'FAIL' : 'ok  '} ${g.expression}${g.detail ? `: ${g.detail}` : ''}`);
  return out.join('\n');
}

function mdCell(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\r?\n/g, ' ');
}

/** A code span inside a table cell: GitHub still needs `\|` there. */
function mdCode(s: string): string {
  return `\`${s.replace(/`/g, "'").replace(/\|/g, '\\|')}\``;
}

/** A GitHub table for a pull-request comment. */
export function formatDiffMd(d: RunDiff): string {
  const out = [`Comparing \`${d.old.replace(/`/g, "'")}\` (old) with \`${d.new.replace(/`/g, "'")}\` (new).`, ''];
  const note = hiddenNote(d);
  if (d.metrics.length > 0) {
    out.push('| Metric | Old | New | Change |', '| --- | ---: | ---: | ---: |');
    for (const r of d.metrics) out.push(`| ${mdCode(r.path)} | ${mdCell(leaf(r.path, r.old))} | ${mdCell(leaf(r.path, r.new))} | ${mdCell(change(r))} |`);
  } else if (note === null) out.push(`**Metrics:** ${metricsLine(d).replace(/^metrics: /, '')}.`);
  if (note !== null) out.push(...(d.metrics.length > 0 ? [''] : []), mdCell(note).replace('--all', '`--all`').replace('--only GLOB', '`--only GLOB`'));
  out.push('');
  if (d.configNote) out.push(`**Config:** ${mdCell(d.configNote)}.`);
  else if (d.config.length === 0) out.push('**Config:** identical.');
  else {
    out.push('| Config key | Old | New |', '| --- | --- | --- |');
    for (const r of d.config) out.push(`| ${mdCode(r.key)} | ${mdCell(shortenHashes(r.old ?? '-'))} | ${mdCell(shortenHashes(r.new ?? '-'))} |`);
  }
  for (const [i, g] of d.gates.entries()) {
    // In a list item a code span needs no escaping but its own fence.
    const expr = `\`${g.expression.replace(/`/g, "'")}\``;
    out.push(...(i === 0 ? [''] : []), `- ${g.crossed ? '**FAIL**' : 'ok'} ${expr}${g.detail ? `: ${mdCell(g.detail)}` : ''}`);
  }
  return out.join('\n') + '\n';
}

/** The comparison as data: values exactly as in metrics.json, hashes in full. */
export function formatDiffJson(d: RunDiff): string {
  return JSON.stringify(d, null, 2) + '\n';
}
