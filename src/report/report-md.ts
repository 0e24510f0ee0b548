/** report.md: the run's results as GitHub-flavoured Markdown tables (curves as a table of epochs). */
import {
  classLabel,
  CONFUSION_TABLE_MAX_CLASSES,
  confusionOf,
  curvesTable,
  factLines,
  modelsTable,
  perClassTable,
  seedsTable,
  topConfusions,
  type ReportInput,
  type Table,
} from './report-data.ts';
import { RUN_HEADER_MARKER } from './run-header.ts';

/** A table cell: pipes and line breaks would end the cell, HTML-looking text would be rendered. */
export function escapeMdCell(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\r?\n/g, ' ');
}

/** Escapes Markdown inline syntax in running text (headings, descriptions). */
export function escapeMdText(s: string): string {
  return s.replace(/([\\`*_[\]#|<>])/g, '\\$1').replace(/\r?\n/g, ' ');
}

/** A GitHub table; columns after the first are right-aligned (they hold numbers). */
export function mdTable(t: Table): string {
  const line = (cells: string[]) => `| ${cells.map(escapeMdCell).join(' | ')} |`;
  const rule = `|${t.header.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`;
  return [line(t.header), rule, ...t.rows.map(line)].join('\n');
}

export function renderReportMd(r: ReportInput): string {
  const m = r.metrics;
  // Publishing the run folder fills the marker with the run's id, date and commit (run-header.ts).
  const out: string[] = [`# ${escapeMdText(m.experiment)}`, '', RUN_HEADER_MARKER, ''];
  if (r.description) out.push(escapeMdText(r.description), '');
  out.push(...factLines(m).map((l) => `- ${escapeMdText(l)}`), '');
  out.push('## Models', '', mdTable(modelsTable(m)), '');
  const seeds = seedsTable(m);
  if (seeds)
    out.push(
      '## Seeds',
      '',
      "Test accuracy per seed (each model's tf.js accuracy, and its .tflite file's in the TFLite runtime), then the mean and standard deviation over seeds.",
      '',
      mdTable(seeds),
      '',
    );
  const perClass = perClassTable(m);
  if (perClass) out.push('## Per-class accuracy', '', mdTable(perClass), '');
  const conf = confusionOf(m);
  const names = m.data.class_names ?? null;
  if (conf && conf.matrix.length <= CONFUSION_TABLE_MAX_CLASSES) {
    out.push(`## Confusion matrix of ${escapeMdText(conf.role)}`, '', 'Rows are true classes, columns predicted classes.', '');
    out.push(
      mdTable({
        header: ['true / predicted', ...conf.matrix.map((_, k) => String(k))],
        rows: conf.matrix.map((row, k) => [classLabel(k, names), ...row.map(String)]),
      }),
      '',
    );
  } else if (conf) {
    out.push(
      `## Confusion matrix of ${escapeMdText(conf.role)}`,
      '',
      `${conf.matrix.length} classes: the largest mistakes (the whole matrix is in metrics.json, report.html draws it).`,
      '',
    );
    out.push(mdTable(topConfusions(conf.matrix, names)), '');
  }
  const curves = curvesTable(r.curves);
  if (curves) {
    out.push(
      '## Training curves',
      '',
      'Mean training loss and accuracy per epoch, then on the held-out validation images when there are some (report.html draws them).',
      '',
      mdTable(curves),
      '',
    );
  }
  return out.join('\n');
}
