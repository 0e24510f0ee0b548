/** The table `kdq run` prints at the end: sizes and accuracies side by side. */
import type { Metrics, ModelMetrics } from './metrics.ts';
import { backendText, importedTeacherLines } from './report-data.ts';
import { kib, pct, points } from './units.ts';

export function formatSummary(m: Metrics, runDir: string): string {
  const rows: string[][] = [['model', 'params', 'tf.js acc', 'tflite acc', 'tflite size', 'agree w/ student', 'agree w/ teacher']];
  for (const [role, v] of Object.entries(m.models) as [string, ModelMetrics][]) {
    rows.push([
      role,
      v.params === undefined ? '-' : String(v.params),
      pct(v.accuracy),
      pct(v.tflite?.accuracy),
      kib(v.tflite?.bytes),
      pct(v.tflite?.agreement_with_student),
      pct(v.tflite?.agreement_with_teacher),
    ]);
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  const lines = rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  '));
  lines.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  const imported = importedTeacherLines(m);
  if (imported.length > 0) lines.push('', ...imported);
  if (m.kd_gain !== undefined)
    lines.push('', `KD gain (student - baseline): ${points(m.kd_gain)} points${m.summary ? ` (seed ${m.seed})` : `; ${oneSeedNote(m)}`}`);
  if (m.summary?.kd_gain) {
    const g = m.summary.kd_gain;
    lines.push(`KD gain over ${g.n} seeds: ${points(g.mean)} ± ${(g.std * 100).toFixed(2)} points (mean ± std)`);
  }
  lines.push('', `${m.experiment}: ${m.data.train} training / ${m.data.test} test examples, backend ${backendText(m.backend)}`);
  lines.push(`results in ${runDir}`);
  return lines.join('\n');
}

/** What a single seed's KD gain can and cannot say, so a small run's number is not read as a finding. */
function oneSeedNote(m: Metrics): string {
  const small = m.data.train < 10_000 ? ` on ${m.data.train.toLocaleString('en-US')} training examples` : '';
  return `one seed${small}: two single runs differ by this much by chance too; list several evaluation.seeds to measure the gain with its spread`;
}
