/** `kdq diff`'s output: a plain table (default), GitHub tables (--md), JSON (--json). */
import type { MetricRow, RunDiff } from './diff.ts';
import { formatNumber, type Leaf } from './metric-values.ts';

function leaf(v: Leaf | undefined): string {
  if (v === undefined) return '-';
  return typeof v === 'string' ? v : JSON.stringify(v);
}

function change(r: MetricRow): string {
  if (r.delta !== null) return formatNumber(r.delta, true);
  if (r.old === undefined) return 'added';
  if (r.new === undefined) return 'removed';
  return r.changed ? 'changed' : '-';
}

function textTable(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c])).join('  ').trimEnd()).join('\n');
}

/** The default output: aligned columns, like `dvc metrics diff`. */
export function formatDiffText(d: RunDiff): string {
  const out = [`old: ${d.old}`, `new: ${d.new}`, ''];
  if (d.metrics.length === 0) out.push(`metrics: identical (${d.compared} compared)`);
  else out.push(textTable([['Metric', 'Old', 'New', 'Change'], ...d.metrics.map((r) => [r.path, leaf(r.old), leaf(r.new), change(r)])]));
  out.push('');
  if (d.configNote) out.push(d.configNote);
  else if (d.config.length === 0) out.push('config: identical');
  else out.push(textTable([['Config key', 'Old', 'New'], ...d.config.map((r) => [r.key, r.old ?? '-', r.new ?? '-'])]));
  for (const [i, g] of d.gates.entries()) out.push(...(i === 0 ? [''] : []), `${g.crossed ? 'FAIL' : 'ok  '} ${g.expression}${g.detail ? `: ${g.detail}` : ''}`);
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
  if (d.metrics.length === 0) out.push(`**Metrics:** identical (${d.compared} compared).`);
  else {
    out.push('| Metric | Old | New | Change |', '| --- | ---: | ---: | ---: |');
    for (const r of d.metrics) out.push(`| ${mdCode(r.path)} | ${mdCell(leaf(r.old))} | ${mdCell(leaf(r.new))} | ${mdCell(change(r))} |`);
  }
  out.push('');
  if (d.configNote) out.push(`**Config:** ${mdCell(d.configNote)}.`);
  else if (d.config.length === 0) out.push('**Config:** identical.');
  else {
    out.push('| Config key | Old | New |', '| --- | --- | --- |');
    for (const r of d.config) out.push(`| ${mdCode(r.key)} | ${mdCell(r.old ?? '-')} | ${mdCell(r.new ?? '-')} |`);
  }
  for (const [i, g] of d.gates.entries()) {
    // In a list item a code span needs no escaping but its own fence.
    const expr = `\`${g.expression.replace(/`/g, "'")}\``;
    out.push(...(i === 0 ? [''] : []), `- ${g.crossed ? '**FAIL**' : 'ok'} ${expr}${g.detail ? `: ${mdCell(g.detail)}` : ''}`);
  }
  return out.join('\n') + '\n';
}

export function formatDiffJson(d: RunDiff): string {
  return JSON.stringify(d, null, 2) + '\n';
}
