/**
 * Line charts as inline SVG strings: no script, no fonts or images to fetch, so report.html
 * stays one self-contained file. Pure functions of their data.
 */

export interface Series {
  name: string;
  /** [x, y] in data units, in x order. */
  points: [number, number][];
  /** Line colour (default: SERIES_COLORS by position), so related series can share one. */
  color?: string;
  /** Dashed line (e.g. the validation curve beside its training curve). */
  dashed?: boolean;
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  width?: number;
  height?: number;
  /** Tick label of a y value (default: up to 3 significant digits). */
  yFormat?: (v: number) => string;
}

/** Colour-blind-safe (Okabe-Ito) line colours, assigned in series order. */
export const SERIES_COLORS = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9'] as const;

/** Escapes text for XML and HTML content and attribute values. */
export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** Round tick values (1, 2, 2.5 or 5 times a power of ten) covering [min, max]; about `count` of them. */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!(Number.isFinite(min) && Number.isFinite(max)) || max < min) return [];
  if (max === min) return [min];
  const raw = (max - min) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((f) => f * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  // Integer multiples of the step, so 0.1 + 0.2 noise never reaches a label.
  for (let i = Math.ceil(min / step - 1e-9); i * step <= max + step * 1e-9; i++) ticks.push(Number((i * step).toPrecision(12)));
  return ticks;
}

/** [lo, hi] with room around the data; a flat series gets a band around its value. */
function domain(values: number[]): [number, number] {
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  if (lo === hi) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    return [lo - pad, hi + pad];
  }
  const pad = (hi - lo) * 0.05;
  lo -= pad;
  hi += pad;
  return [lo, hi];
}

const num = (v: number) => String(Number(v.toFixed(2)));
const defaultFormat = (v: number) => String(Number(v.toPrecision(3)));

/** A line chart with axes, ticks, a legend and a dot on every point (so one epoch still shows). */
/** Legend entries laid out left to right under the title, wrapping to a new row at the chart's edge. */
function legendLayout(names: string[], left: number, width: number): { x: number; row: number }[] {
  const out: { x: number; row: number }[] = [];
  let x = left;
  let row = 0;
  for (const name of names) {
    const w = 24 + name.length * 7 + 16;
    if (x > left && x + w > width) {
      x = left;
      row++;
    }
    out.push({ x, row });
    x += w;
  }
  return out;
}

export function lineChart(series: Series[], opts: ChartOptions): string {
  const width = opts.width ?? 520;
  const m = { left: 64, right: 16, top: 52, bottom: 48 };
  const legend = legendLayout(
    series.filter((s) => s.points.length > 0).map((s) => s.name),
    m.left,
    width - m.right,
  );
  // Each extra legend row pushes the plot down, so the plot keeps its height.
  const extraRows = legend.length > 0 ? legend[legend.length - 1].row : 0;
  m.top += 14 * extraRows;
  const height = (opts.height ?? 320) + 14 * extraRows;
  const plotW = width - m.left - m.right;
  const plotH = height - m.top - m.bottom;
  const title = escapeXml(opts.title);
  const open = `<svg class="chart" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${title}">`;
  const parts: string[] = [open, `<title>${title}</title>`];
  parts.push(`<text x="${m.left}" y="20" font-size="14" font-weight="600">${title}</text>`);
  const drawn = series.filter((s) => s.points.length > 0);
  if (drawn.length === 0) {
    parts.push(`<text x="${m.left}" y="${m.top + plotH / 2}" font-size="12">no data</text>`, '</svg>');
    return parts.join('\n');
  }
  const xs = drawn.flatMap((s) => s.points.map((p) => p[0]));
  const ys = drawn.flatMap((s) => s.points.map((p) => p[1]));
  const xMin = Math.min(...xs);
  const xMax = Math.max(...xs);
  const [x0, x1] = xMin === xMax ? [xMin - 1, xMax + 1] : [xMin, xMax];
  const [y0, y1] = domain(ys);
  const sx = (x: number) => m.left + ((x - x0) / (x1 - x0)) * plotW;
  const sy = (y: number) => m.top + plotH - ((y - y0) / (y1 - y0)) * plotH;
  const fmt = opts.yFormat ?? defaultFormat;

  parts.push(`<rect x="${m.left}" y="${m.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#999"/>`);
  for (const t of niceTicks(y0, y1, 6)) {
    const y = num(sy(t));
    parts.push(`<line x1="${m.left}" y1="${y}" x2="${m.left + plotW}" y2="${y}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${m.left - 6}" y="${y}" font-size="11" text-anchor="end" dominant-baseline="middle">${escapeXml(fmt(t))}</text>`);
  }
  // Epochs are whole numbers: only integer x ticks.
  for (const t of niceTicks(xMin, xMax, 8).filter((t) => Number.isInteger(t))) {
    const x = num(sx(t));
    parts.push(`<line x1="${x}" y1="${m.top + plotH}" x2="${x}" y2="${m.top + plotH + 4}" stroke="#999"/>`);
    parts.push(`<text x="${x}" y="${m.top + plotH + 16}" font-size="11" text-anchor="middle">${t}</text>`);
  }
  parts.push(`<text x="${m.left + plotW / 2}" y="${height - 8}" font-size="12" text-anchor="middle">${escapeXml(opts.xLabel)}</text>`);
  parts.push(
    `<text x="14" y="${m.top + plotH / 2}" font-size="12" text-anchor="middle" transform="rotate(-90 14 ${m.top + plotH / 2})">${escapeXml(opts.yLabel)}</text>`,
  );

  // Legend in rows under the title, so it never hides a line.
  drawn.forEach((s, i) => {
    const color = s.color ?? SERIES_COLORS[i % SERIES_COLORS.length];
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    const name = escapeXml(s.name);
    const pts = s.points.map(([x, y]) => `${num(sx(x))},${num(sy(y))}`);
    parts.push(`<g class="series" data-name="${name}">`);
    if (pts.length > 1) parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2"${dash} points="${pts.join(' ')}"/>`);
    for (const [x, y] of s.points) parts.push(`<circle cx="${num(sx(x))}" cy="${num(sy(y))}" r="3" fill="${color}"/>`);
    parts.push('</g>');
    const { x: lx, row } = legend[i];
    const ly = 38 + 14 * row;
    parts.push(`<line x1="${lx}" y1="${ly}" x2="${lx + 18}" y2="${ly}" stroke="${color}" stroke-width="2"${dash}/>`);
    parts.push(`<text x="${lx + 24}" y="${ly}" font-size="11" dominant-baseline="middle">${name}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}
