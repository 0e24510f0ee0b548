/**
 * summary.html: a sweep's points on one page, in the style of report.html (self-contained, no
 * script): accuracy against file size with the Pareto front marked (no other point is both smaller
 * and more accurate), the front listed, then the whole summary table.
 */
import { htmlPage, htmlTable } from '../report/report-html.ts';
import { escapeXml, scatterChart, wantsLogScale } from '../report/svg.ts';
import { kib } from '../report/units.ts';
import { columnTitle, formatNumber, paramText, type SweepRow, type SweepSummary } from './summary.ts';

/** The size and accuracy columns of one quantized role (`models.<role>.tflite.bytes` / `.accuracy`). */
export interface SizeAxes {
  role: string;
  size: string;
  accuracy: string;
}

const TFLITE_ACCURACY = /^models\.(.+)\.tflite\.accuracy$/;

/**
 * Which file's size and accuracy to plot: the rank's file when the rank is a .tflite accuracy
 * with a size column, else the first role with both columns; null when the summary has no sizes.
 */
export function sizeAxes(s: SweepSummary): SizeAxes | null {
  const candidates = [s.rank, ...s.columns].map((c) => TFLITE_ACCURACY.exec(c)?.[1]).filter((r): r is string => r !== undefined);
  for (const role of candidates) {
    const size = `models.${role}.tflite.bytes`;
    if (s.columns.includes(size)) return { role, size, accuracy: `models.${role}.tflite.accuracy` };
  }
  return null;
}

export interface SweepPoint {
  id: string;
  bytes: number;
  accuracy: number;
}

/**
 * The points no other point dominates (as small or smaller and as accurate or more, better in one),
 * smallest first. Two points of the same size and accuracy are both on the front.
 */
export function paretoFront(points: readonly SweepPoint[]): SweepPoint[] {
  const dominated = (p: SweepPoint) =>
    points.some((q) => q !== p && q.bytes <= p.bytes && q.accuracy >= p.accuracy && (q.bytes < p.bytes || q.accuracy > p.accuracy));
  return points.filter((p) => !dominated(p)).sort((a, b) => a.bytes - b.bytes || b.accuracy - a.accuracy || a.id.localeCompare(b.id));
}

function summaryTable(s: SweepSummary): string {
  return htmlTable({
    header: ['', 'point', ...s.keys, ...s.columns.map(columnTitle), 'run'],
    rows: s.rows.map((r) => [
      r.best ? '★' : '',
      r.id,
      ...s.keys.map((k) => paramText(r.params[k])),
      ...s.columns.map((c) => formatNumber(c, r.metrics[c])),
      r.error ? `failed: ${r.error}` : (r.run ?? ''),
    ]),
  });
}

export function formatSweepHtml(s: SweepSummary): string {
  const title = `Sweep ${s.sweep} of ${s.experiment}`;
  const n = s.rows.length;
  const body = [
    `<h1>${escapeXml(title)}</h1>`,
    `<p class="description">${n} point${n === 1 ? '' : 's'}, ranked by ${escapeXml(s.rank)} (highest first)${s.seeds > 1 ? `; values are means over ${s.seeds} seeds` : ''}. ★ marks the best point.</p>`,
  ];
  const axes = sizeAxes(s);
  const plotted = axes
    ? s.rows.flatMap((r: SweepRow) => {
        const bytes = r.metrics[axes.size];
        const accuracy = r.metrics[axes.accuracy];
        return bytes !== undefined && accuracy !== undefined && bytes > 0 ? [{ id: r.id, bytes, accuracy }] : [];
      })
    : [];
  if (axes && plotted.length > 0) {
    const front = paretoFront(plotted);
    const onFront = new Set(front.map((p) => p.id));
    const chart = scatterChart(
      plotted.map((p) => ({ x: p.bytes / 1024, y: p.accuracy * 100, label: p.id, marked: onFront.has(p.id), color: onFront.has(p.id) ? '#0072B2' : '#999' })),
      {
        title: `${axes.role}: accuracy against .tflite size`,
        xLabel: `${axes.role}.tflite size (KiB)`,
        yLabel: 'test accuracy (%)',
        logX: wantsLogScale(plotted.map((p) => p.bytes)),
        markedName: 'Pareto front: no point is smaller and more accurate',
      },
    );
    const rows = new Map(s.rows.map((r) => [r.id, r]));
    body.push(
      '<h2>Accuracy against size</h2>',
      '<div class="charts">',
      chart,
      '<div>',
      `<p class="note">Each point's ${escapeXml(axes.role)}.tflite: its size and test accuracy. The Pareto front (ringed and joined) are the points for which no other point is both as small or smaller and at least as accurate (and better in one of the two); for every point off it, a point on it is the better choice.</p>`,
      htmlTable({
        header: ['point', ...s.keys, 'size', 'accuracy'],
        rows: front.map((p) => [p.id, ...s.keys.map((k) => paramText(rows.get(p.id)?.params[k])), kib(p.bytes), formatNumber(axes.accuracy, p.accuracy)]),
      }),
      '</div>',
      '</div>',
    );
  } else {
    body.push('<p class="note">No chart of accuracy against size: the points have no quantized .tflite file whose size the summary records.</p>');
  }
  body.push('<h2>Points</h2>', `<div class="scroll">${summaryTable(s)}</div>`);
  return htmlPage(title, body);
}
