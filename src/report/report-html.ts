/**
 * report.html: one self-contained page (inline CSS and SVG, no script, no external asset or
 * link), so it opens offline, in a CI artifact viewer, or attached to an email.
 */
import { confusionOf, curveRoles, curvesTable, factLines, modelsTable, pct, perClassTable, seedsTable, type ReportInput, type Table } from './report-data.ts';
import { escapeXml, lineChart, type Series } from './svg.ts';

const CSS = `
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto; max-width: 1100px; color: #222; padding: 0 16px; }
h1 { font-size: 24px; margin-bottom: 4px; }
h2 { font-size: 18px; margin-top: 28px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
p.description { color: #555; margin-top: 0; }
ul.facts { padding-left: 18px; color: #333; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: right; font-variant-numeric: tabular-nums; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f4f4f4; }
table.confusion td { min-width: 32px; text-align: center; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; }
svg.chart { background: #fff; border: 1px solid #eee; }
svg.chart text { fill: #222; font-family: inherit; }
`;

export function htmlTable(t: Table, cls?: string): string {
  const row = (cells: string[], tag: 'th' | 'td') => `<tr>${cells.map((c) => `<${tag}>${escapeXml(c)}</${tag}>`).join('')}</tr>`;
  return [
    `<table${cls ? ` class="${cls}"` : ''}>`,
    `<thead>${row(t.header, 'th')}</thead>`,
    '<tbody>',
    ...t.rows.map((r) => row(r, 'td')),
    '</tbody>',
    '</table>',
  ].join('\n');
}

/** Counts shaded by their share of the row: blue on the diagonal (right), orange off it (wrong). */
export function confusionTable(matrix: number[][]): string {
  const head = `<thead><tr><th>true / predicted</th>${matrix.map((_, k) => `<th>${k}</th>`).join('')}<th>accuracy</th></tr></thead>`;
  const body = matrix.map((row, k) => {
    const total = row.reduce((a, b) => a + b, 0);
    const cells = row.map((n, j) => {
      const share = total === 0 ? 0 : n / total;
      const rgb = j === k ? '0, 114, 178' : '213, 94, 0';
      const alpha = j === k ? share : Math.min(1, share * 4);
      const style = n === 0 ? '' : ` style="background: rgba(${rgb}, ${alpha.toFixed(3)})${j === k && share > 0.6 ? '; color: #fff' : ''}"`;
      return `<td${style}>${n}</td>`;
    });
    return `<tr><th>${k}</th>${cells.join('')}<td>${pct(total === 0 ? null : row[k] / total)}</td></tr>`;
  });
  return ['<table class="confusion">', head, '<tbody>', ...body, '</tbody>', '</table>'].join('\n');
}

/** Loss and accuracy per epoch of every trained model, as two inline SVG charts. */
export function curveCharts(curves: ReportInput['curves']): string {
  const roles = curveRoles(curves);
  const series = (pick: 'loss' | 'accuracy'): Series[] =>
    roles.map((r) => ({ name: r, points: curves[r]!.map((p) => [p.epoch, pick === 'loss' ? p.loss : p.accuracy * 100] as [number, number]) }));
  return [
    '<div class="charts">',
    lineChart(series('loss'), { title: 'Training loss per epoch', xLabel: 'epoch', yLabel: 'mean loss per image' }),
    lineChart(series('accuracy'), { title: 'Training accuracy per epoch', xLabel: 'epoch', yLabel: 'accuracy (%)' }),
    '</div>',
  ].join('\n');
}

export function renderReportHtml(r: ReportInput): string {
  const m = r.metrics;
  const title = escapeXml(`${m.experiment}: kdq report`);
  const body: string[] = [`<h1>${escapeXml(m.experiment)}</h1>`];
  if (r.description) body.push(`<p class="description">${escapeXml(r.description)}</p>`);
  body.push('<ul class="facts">', ...factLines(m).map((l) => `<li>${escapeXml(l)}</li>`), '</ul>');
  body.push('<h2>Models</h2>', htmlTable(modelsTable(m)));
  const seeds = seedsTable(m);
  if (seeds) body.push('<h2>Seeds</h2>', '<p>Test accuracy per seed, then the mean and standard deviation over seeds.</p>', htmlTable(seeds));
  const perClass = perClassTable(m);
  if (perClass) body.push('<h2>Per-class accuracy</h2>', htmlTable(perClass));
  const conf = confusionOf(m);
  if (conf) {
    body.push(`<h2>Confusion matrix of ${escapeXml(conf.role)}</h2>`, '<p>Rows are true classes, columns predicted classes; the last column is the accuracy on the class.</p>');
    body.push(confusionTable(conf.matrix));
  }
  const curves = curvesTable(r.curves);
  if (curves) {
    body.push('<h2>Training curves</h2>', '<p>Mean training loss (the KD loss for the distilled student) and training accuracy per epoch.</p>');
    body.push(curveCharts(r.curves), htmlTable(curves));
  }
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    // No network, ever: the policy also makes a stray reference fail loudly in the headless check.
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`,
    `<title>${title}</title>`,
    `<style>${CSS}</style>`,
    '</head>',
    '<body>',
    ...body,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}
