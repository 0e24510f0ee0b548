/**
 * report.html: one self-contained page (inline CSS and SVG, no script, no external asset or
 * link), so it opens offline, in a CI artifact viewer, or attached to an email.
 */
import {
  classLabel,
  CONFUSION_TABLE_MAX_CLASSES,
  confusionOf,
  curveRoles,
  curvesTable,
  factLines,
  hasValidation,
  isScheduled,
  modelsTable,
  pct,
  perClassGain,
  perClassTable,
  points,
  rate,
  seedSpread,
  seedsTable,
  sizedModels,
  spreadRoles,
  topConfusions,
  type EpochPoint,
  type ReportInput,
  type SpreadPoint,
  type Table,
} from './report-data.ts';
import { barChart, escapeXml, lineChart, scatterChart, SERIES_COLORS, wantsLogScale, type Series } from './svg.ts';
import { MODEL_ROLES, type ModelRole } from '../names.ts';
import { RUN_HEADER_MARKER } from './run-header.ts';

/** The style of kdq's HTML pages (report.html, a sweep's summary.html). */
export const REPORT_CSS = `
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto; max-width: 1100px; color: #222; padding: 0 16px; }
h1 { font-size: 24px; margin-bottom: 4px; }
h2 { font-size: 18px; margin-top: 28px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
p.description { color: #555; margin-top: 0; }
p.run-header { color: #444; font-size: 13px; margin: 0 0 8px; display: flex; flex-wrap: wrap; gap: 4px 16px; }
p.run-header b { font-weight: 600; color: #666; }
ul.facts { padding-left: 18px; color: #333; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: right; font-variant-numeric: tabular-nums; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f4f4f4; }
table.confusion td { min-width: 24px; padding: 3px 4px; text-align: center; }
table.confusion th { white-space: nowrap; padding: 3px 6px; }
div.wide { overflow-x: auto; }
.charts { align-items: flex-start; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; }
.scroll { overflow-x: auto; }
svg.chart { background: #fff; border: 1px solid #eee; }
svg.chart text { fill: #222; font-family: inherit; }
p.note { color: #555; font-size: 13px; max-width: 420px; margin: 0; }
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

/** Blue on the diagonal (right), orange off it (wrong): a cell's colour for its share of the true class. */
function shade(n: number, share: number, diagonal: boolean): { rgb: string; alpha: number } {
  return { rgb: diagonal ? '0, 114, 178' : '213, 94, 0', alpha: n === 0 ? 0 : diagonal ? share : Math.min(1, share * 4) };
}

/** Counts shaded by their share of the row; rows name their class, columns give its number. */
export function confusionTable(matrix: number[][], names: readonly string[] | null = null): string {
  const head = `<thead><tr><th>true / predicted</th>${matrix.map((_, k) => `<th>${k}</th>`).join('')}<th>accuracy</th></tr></thead>`;
  const body = matrix.map((row, k) => {
    const total = row.reduce((a, b) => a + b, 0);
    const cells = row.map((n, j) => {
      const share = total === 0 ? 0 : n / total;
      const { rgb, alpha } = shade(n, share, j === k);
      const style = n === 0 ? '' : ` style="background: rgba(${rgb}, ${alpha.toFixed(3)})${j === k && share > 0.6 ? '; color: #fff' : ''}"`;
      return `<td${style}>${n}</td>`;
    });
    return `<tr><th>${escapeXml(classLabel(k, names))}</th>${cells.join('')}<td>${pct(total === 0 ? null : row[k] / total)}</td></tr>`;
  });
  return ['<table class="confusion">', head, '<tbody>', ...body, '</tbody>', '</table>'].join('\n');
}

/**
 * The confusion matrix as a picture, for more classes than a table of counts can show legibly:
 * one square per cell shaded like the table (empty cells left white), class numbers every
 * `step` along both axes, and each cell's counts in its tooltip (an SVG title, no script).
 */
export function confusionHeatmap(matrix: number[][], names: readonly string[] | null = null): string {
  const n = matrix.length;
  const cell = Math.max(4, Math.min(14, Math.floor(640 / n)));
  const m = { left: 44, top: 28 };
  const size = n * cell;
  const width = m.left + size + 16;
  const height = m.top + size + 40;
  const step = n <= 30 ? 5 : 10;
  const parts = [
    `<svg class="chart heatmap" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="confusion matrix">`,
    `<rect x="${m.left}" y="${m.top}" width="${size}" height="${size}" fill="#fff" stroke="#999"/>`,
  ];
  matrix.forEach((row, t) => {
    const total = row.reduce((a, b) => a + b, 0);
    row.forEach((count, p) => {
      if (count === 0) return;
      const { rgb, alpha } = shade(count, total === 0 ? 0 : count / total, p === t);
      const tip = `${classLabel(t, names)} taken for ${classLabel(p, names)}: ${count} of ${total}`;
      parts.push(
        `<rect x="${m.left + p * cell}" y="${m.top + t * cell}" width="${cell}" height="${cell}" fill="rgba(${rgb}, ${Math.max(0.08, alpha).toFixed(3)})"><title>${escapeXml(tip)}</title></rect>`,
      );
    });
  });
  for (let k = 0; k < n; k += step) {
    const at = k * cell + cell / 2;
    parts.push(`<text x="${m.left + at}" y="${m.top - 6}" font-size="10" text-anchor="middle">${k}</text>`);
    parts.push(`<text x="${m.left - 6}" y="${m.top + at}" font-size="10" text-anchor="end" dominant-baseline="middle">${k}</text>`);
  }
  parts.push(`<text x="${m.left + size / 2}" y="${m.top + size + 20}" font-size="12" text-anchor="middle">predicted class</text>`);
  parts.push(`<text x="12" y="${m.top + size / 2}" font-size="12" text-anchor="middle" transform="rotate(-90 12 ${m.top + size / 2})">true class</text>`);
  parts.push('</svg>');
  return parts.join('\n');
}

/** The role whose training loss is the KD loss (the distilled student); every other trains on cross-entropy. */
const KD_ROLE: ModelRole = 'student';

/** [epoch, y] of every point of a curve that has a y. */
function xy(points: readonly EpochPoint[], y: (p: EpochPoint) => number | undefined): [number, number][] {
  return points.flatMap((p) => {
    const v = y(p);
    return v === undefined ? [] : [[p.epoch, v] as [number, number]];
  });
}

/**
 * A model's colour on the curve charts: its place among the roles with a curve (`roles`, as
 * curveRoles orders them); a role without a curve of its own takes its place in MODEL_ROLES.
 */
function curveColor(roles: readonly ModelRole[], role: ModelRole): string {
  const i = roles.includes(role) ? roles.indexOf(role) : MODEL_ROLES.indexOf(role);
  return SERIES_COLORS[i % SERIES_COLORS.length];
}

/**
 * Per epoch, as inline SVG charts: one chart per kind of loss, so each is drawn on its own scale
 * (cross-entropy: the teacher's and baseline's training loss and every model's validation loss;
 * the distilled student's KD loss), accuracy, and the learning rate when a schedule changed it.
 * A model keeps its colour on every chart; validation curves are dashed.
 */
export function curveCharts(curves: ReportInput['curves'], after: string | null = null): string {
  const roles = curveRoles(curves);
  const of = (r: ModelRole) => curves[r]!;
  const line = (r: ModelRole, y: (p: EpochPoint) => number | undefined, validation = false): Series => ({
    name: validation ? `${r} (val)` : r,
    points: xy(of(r), y),
    color: curveColor(roles, r),
    dashed: validation,
  });
  const validated = roles.filter((r) => hasValidation(of(r)));
  const ce = [...roles.filter((r) => r !== KD_ROLE).map((r) => line(r, (p) => p.loss)), ...validated.map((r) => line(r, (p) => p.valLoss, true))];
  const acc = [
    ...roles.map((r) => line(r, (p) => p.accuracy * 100)),
    ...validated.map((r) => line(r, (p) => (p.valAccuracy === undefined ? undefined : p.valAccuracy * 100), true)),
  ];
  const lr = roles.filter((r) => isScheduled(of(r))).map((r) => line(r, (p) => p.learningRate));
  const charts: string[] = [];
  if (ce.length > 0) charts.push(lineChart(ce, { title: 'Cross-entropy per epoch', xLabel: 'epoch', yLabel: 'mean cross-entropy per image' }));
  if (roles.includes(KD_ROLE)) {
    charts.push(
      lineChart([line(KD_ROLE, (p) => p.loss)], { title: 'KD loss per epoch (distilled student)', xLabel: 'epoch', yLabel: 'mean KD loss per image' }),
    );
  }
  charts.push(lineChart(acc, { title: validated.length > 0 ? 'Accuracy per epoch' : 'Training accuracy per epoch', xLabel: 'epoch', yLabel: 'accuracy (%)' }));
  if (lr.length > 0) charts.push(lineChart(lr, { title: 'Learning rate per epoch', xLabel: 'epoch', yLabel: 'learning rate', yFormat: rate }));
  if (after) charts.push(after);
  return ['<div class="charts">', ...charts, '</div>'].join('\n');
}

/** Accuracy against .tflite size, one labelled point per model, with a line naming the models it leaves out. */
export function sizeChart(m: ReportInput['metrics']): string | null {
  const { sized, unsized } = sizedModels(m);
  if (sized.length === 0) return null;
  const logX = wantsLogScale(sized.map((s) => s.bytes / 1024));
  const chart = scatterChart(
    sized.map((s) => ({ x: s.bytes / 1024, y: s.accuracy * 100, label: s.role, color: roleColor(s.role) })),
    { title: 'Accuracy against .tflite size', xLabel: '.tflite file size (KiB)', yLabel: 'test accuracy (%)', logX, xFormat: kibTick },
  );
  const note = unsized.length > 0 ? ` Not shown (no .tflite file): ${unsized.join(', ')}.` : '';
  return [
    '<div class="charts">',
    chart,
    `<p class="note">Each model's .tflite file: its size and its test accuracy in the TFLite runtime.${escapeXml(note)}</p>`,
    '</div>',
  ].join('\n');
}

/** Per class, the distilled student's tf.js accuracy minus the baseline's in percentage points; null without both. */
export function perClassGainChart(m: ReportInput['metrics']): string | null {
  const gains = perClassGain(m);
  if (!gains || gains.length === 0) return null;
  const names = m.data.class_names ?? null;
  const bars = gains.map(({ k, gain }) => ({ label: String(k), value: gain * 100, tip: `${classLabel(k, names)}: ${points(gain)} pts` }));
  return [
    '<div class="charts">',
    barChart(bars, { title: 'Per-class KD gain (distilled student minus baseline)', xLabel: 'class', yLabel: 'accuracy difference (pts)' }),
    '<p class="note">Per class, the tf.js accuracy of the distilled student minus that of the baseline student, in percentage points: blue where distillation helped the class, orange where it hurt. Hover a bar for its class.</p>',
    '</div>',
  ].join('\n');
}

/** A KiB tick: whole KiB from 1000 on, else 3 significant digits. */
const kibTick = (v: number): string => (v >= 1000 ? String(Math.round(v)) : String(Number(v.toPrecision(3))));

/** A model role's colour on every chart: its place in MODEL_ROLES. */
function roleColor(role: string): string {
  const i = (MODEL_ROLES as readonly string[]).indexOf(role);
  return SERIES_COLORS[(i === -1 ? MODEL_ROLES.length : i) % SERIES_COLORS.length];
}

/** The roles whose spread over seeds is drawn: the two students, whose difference the seeds are there to test. */
const SPREAD_ROLES: readonly ModelRole[] = ['student', 'student_baseline'];

/**
 * Accuracy per epoch over every seed: for each student, the mean over seeds as a line and the
 * lowest to highest seed as a band, training solid and validation dashed; null with one seed.
 */
export function seedSpreadChart(r: ReportInput): string | null {
  const roles = spreadRoles(r.seedCurves).filter((role) => SPREAD_ROLES.includes(role));
  if (roles.length === 0) return null;
  // Each model keeps the colour it has on the other curve charts.
  const colourRoles = curveRoles(r.curves);
  const series: Series[] = [];
  let seeds = 0;
  for (const role of roles) {
    const runs = r.seedCurves![role]!.filter((c) => c.length > 0);
    seeds = Math.max(seeds, runs.length);
    const add = (spread: SpreadPoint[], validation: boolean) => {
      if (spread.length === 0) return;
      series.push({
        name: `${role}${validation ? ' (val)' : ''}`,
        points: spread.map((p) => [p.epoch, p.mean * 100]),
        band: spread.map((p) => [p.epoch, p.min * 100, p.max * 100]),
        color: curveColor(colourRoles, role),
        dashed: validation,
      });
    };
    add(
      seedSpread(runs, (p) => p.accuracy),
      false,
    );
    add(
      seedSpread(runs, (p) => p.valAccuracy),
      true,
    );
  }
  return lineChart(series, { title: `Accuracy per epoch, ${seeds} seeds (mean, min–max band)`, xLabel: 'epoch', yLabel: 'accuracy (%)' });
}

/**
 * A self-contained page: kdq's style inline, no script, and a policy that forbids the network, so
 * a stray reference fails loudly in scripts/render-report.mjs.
 */
export function htmlPage(title: string, body: readonly string[]): string {
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`,
    `<title>${escapeXml(title)}</title>`,
    `<style>${REPORT_CSS}</style>`,
    '</head>',
    '<body>',
    ...body,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

export function renderReportHtml(r: ReportInput): string {
  const m = r.metrics;
  // Publishing the run folder fills the marker with the run's id, date and commit (run-header.ts).
  const body: string[] = [`<h1>${escapeXml(m.experiment)}</h1>`, RUN_HEADER_MARKER];
  if (r.description) body.push(`<p class="description">${escapeXml(r.description)}</p>`);
  body.push('<ul class="facts">', ...factLines(m).map((l) => `<li>${escapeXml(l)}</li>`), '</ul>');
  body.push('<h2>Models</h2>', htmlTable(modelsTable(m)));
  const sized = sizeChart(m);
  if (sized) body.push(sized);
  const seeds = seedsTable(m);
  if (seeds)
    body.push(
      '<h2>Seeds</h2>',
      "<p>Test accuracy per seed (each model's tf.js accuracy, and its .tflite file's in the TFLite runtime), then the mean and standard deviation over seeds.</p>",
      `<div class="scroll">${htmlTable(seeds)}</div>`,
    );
  const perClass = perClassTable(m);
  if (perClass) {
    body.push('<h2>Per-class accuracy</h2>');
    const gain = perClassGainChart(m);
    if (gain) body.push(gain);
    body.push(htmlTable(perClass));
  }
  const conf = confusionOf(m);
  const names = m.data.class_names ?? null;
  if (conf && conf.matrix.length <= CONFUSION_TABLE_MAX_CLASSES) {
    body.push(
      `<h2>Confusion matrix of ${escapeXml(conf.role)}</h2>`,
      '<p>Rows are true classes, columns predicted classes; the last column is the accuracy on the class.</p>',
    );
    body.push('<div class="wide">', confusionTable(conf.matrix, names), '</div>');
  } else if (conf) {
    body.push(
      `<h2>Confusion matrix of ${escapeXml(conf.role)}</h2>`,
      `<p>${conf.matrix.length} classes: rows are true classes, columns predicted classes, shaded by their share of the true class (blue: right, orange: mistaken); hover a square for its counts. The counts are in metrics.json. The largest mistakes:</p>`,
    );
    body.push('<div class="charts">', confusionHeatmap(conf.matrix, names), htmlTable(topConfusions(conf.matrix, names)), '</div>');
  }
  const curves = curvesTable(r.curves);
  if (curves) {
    body.push(
      '<h2>Training curves</h2>',
      '<p>Per epoch: the mean training loss, on one chart per kind of loss (cross-entropy, label-smoothed where training.labelSmoothing is set; the KD loss of the distilled student), ' +
        'and the training accuracy. Dashed lines are the held-out validation images (data.validationSplit): their plain cross-entropy and accuracy, comparable across models.</p>',
    );
    const spread = seedSpreadChart(r);
    const seeds = r.metrics.seeds?.length ?? 1;
    if (seeds > 1) {
      body.push(
        `<p>The charts and the table follow the first seed (${r.metrics.seed})${spread ? `, but for the last chart: the accuracy of both students over all ${seeds} seeds, their mean as a line and the lowest to highest seed as a band (an epoch that early stopping left out of some seeds averages the others)` : ''}.</p>`,
      );
    }
    body.push(curveCharts(r.curves, spread));
    // Four models with validation and a rate make a wide table: it scrolls instead of overflowing.
    body.push(`<div class="scroll">${htmlTable(curves)}</div>`);
  }
  return htmlPage(`${m.experiment}: kdq report`, body);
}
