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
  /** A shaded band behind the line: [x, low, high] in x order (e.g. the range over seeds). */
  band?: [number, number, number][];
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

/** The start of every chart: the svg element (with `cls`), its accessible title and the visible one at `left`. */
function chartOpening(cls: string, width: number, height: number, title: string, left: number): string[] {
  const t = escapeXml(title);
  return [
    `<svg class="${cls}" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${t}">`,
    `<title>${t}</title>`,
    `<text x="${left}" y="20" font-size="14" font-weight="600">${t}</text>`,
  ];
}

/** The plot's border, and a grey grid line with its label at each y tick. */
function plotFrame(
  parts: string[],
  box: { left: number; top: number; width: number; height: number },
  ticks: number[],
  sy: (y: number) => number,
  fmt: (v: number) => string,
): void {
  parts.push(`<rect x="${box.left}" y="${box.top}" width="${box.width}" height="${box.height}" fill="none" stroke="#999"/>`);
  for (const t of ticks) {
    const y = num(sy(t));
    parts.push(`<line x1="${box.left}" y1="${y}" x2="${box.left + box.width}" y2="${y}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${box.left - 6}" y="${y}" font-size="11" text-anchor="end" dominant-baseline="middle">${escapeXml(fmt(t))}</text>`);
  }
}

/** A chart with nothing to draw says so where its plot would be. */
function noData(parts: string[], x: number, y: number): string {
  parts.push(`<text x="${x}" y="${y}" font-size="12">no data</text>`, '</svg>');
  return parts.join('\n');
}
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
  const parts = chartOpening('chart', width, height, opts.title, m.left);
  const drawn = series.filter((s) => s.points.length > 0);
  if (drawn.length === 0) {
    return noData(parts, m.left, m.top + plotH / 2);
  }
  const xs = drawn.flatMap((s) => s.points.map((p) => p[0]));
  const ys = drawn.flatMap((s) => [...s.points.map((p) => p[1]), ...(s.band ?? []).flatMap(([, lo, hi]) => [lo, hi])]);
  const xMin = Math.min(...xs);
  const xMax = Math.max(...xs);
  const [x0, x1] = xMin === xMax ? [xMin - 1, xMax + 1] : [xMin, xMax];
  const [y0, y1] = domain(ys);
  const sx = (x: number) => m.left + ((x - x0) / (x1 - x0)) * plotW;
  const sy = (y: number) => m.top + plotH - ((y - y0) / (y1 - y0)) * plotH;
  const fmt = opts.yFormat ?? defaultFormat;

  plotFrame(parts, { left: m.left, top: m.top, width: plotW, height: plotH }, niceTicks(y0, y1, 6), sy, fmt);
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

  // Bands first, so no band covers another series' line.
  drawn.forEach((s, i) => {
    if (!s.band || s.band.length === 0) return;
    const color = s.color ?? SERIES_COLORS[i % SERIES_COLORS.length];
    // The upper edge left to right, then the lower edge back: one closed shape.
    const upper = s.band.map(([x, , hi]) => `${num(sx(x))},${num(sy(hi))}`);
    const lower = [...s.band].reverse().map(([x, lo]) => `${num(sx(x))},${num(sy(lo))}`);
    parts.push(
      `<polygon class="band" data-name="${escapeXml(s.name)}" fill="${color}" fill-opacity="${s.dashed ? 0.1 : 0.18}" stroke="none" points="${[...upper, ...lower].join(' ')}"/>`,
    );
  });
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

/** One labelled point of a scatter chart. */
export interface ScatterPoint {
  x: number;
  y: number;
  label: string;
  color?: string;
  /** Drawn ringed and joined to the other marked points in x order (e.g. a Pareto front). */
  marked?: boolean;
}

export interface ScatterOptions extends ChartOptions {
  /** Logarithmic x axis (see wantsLogScale); every x must then be positive. */
  logX?: boolean;
  xFormat?: (v: number) => string;
  /** Legend text for the marked points and their line, e.g. `Pareto front`. */
  markedName?: string;
}

/** Whether positive values spread over more than a factor of 10, so a log axis shows them better. */
export function wantsLogScale(values: readonly number[]): boolean {
  if (values.length < 2 || values.some((v) => !(v > 0))) return false;
  return Math.max(...values) / Math.min(...values) > 10;
}

/** Ticks of a log axis: 1, 2 and 5 times the powers of ten within [min, max] (min > 0). */
export function logTicks(min: number, max: number): number[] {
  if (!(min > 0) || !(max >= min) || !Number.isFinite(max)) return [];
  const ticks: number[] = [];
  for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) {
    for (const f of [1, 2, 5]) {
      const t = Number((f * 10 ** e).toPrecision(12));
      if (t >= min * (1 - 1e-9) && t <= max * (1 + 1e-9)) ticks.push(t);
    }
  }
  return ticks;
}

/** Approximate width of a label at 11 px (SVG text cannot be measured without a browser). */
const labelWidth = (s: string) => s.length * 6.2;

/**
 * A scatter chart with a label beside each point. Labels that would collide move below or above
 * their point, and to its left near the right edge, so a cluster of points stays readable.
 */
export function scatterChart(points: ScatterPoint[], opts: ScatterOptions): string {
  const width = opts.width ?? 520;
  const height = opts.height ?? 340;
  const m = { left: 64, right: 16, top: opts.markedName ? 52 : 36, bottom: 48 };
  const plotW = width - m.left - m.right;
  const plotH = height - m.top - m.bottom;
  const parts = chartOpening('chart scatter', width, height, opts.title, m.left);
  const logX = opts.logX === true && points.every((p) => p.x > 0);
  const drawn = points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  if (drawn.length === 0) {
    return noData(parts, m.left, m.top + plotH / 2);
  }
  const tx = (x: number) => (logX ? Math.log10(x) : x);
  const [x0, x1] = domain(drawn.map((p) => tx(p.x)));
  const [y0, y1] = domain(drawn.map((p) => p.y));
  const sx = (x: number) => m.left + ((tx(x) - x0) / (x1 - x0)) * plotW;
  const sy = (y: number) => m.top + plotH - ((y - y0) / (y1 - y0)) * plotH;
  const xFmt = opts.xFormat ?? defaultFormat;
  const yFmt = opts.yFormat ?? defaultFormat;

  plotFrame(parts, { left: m.left, top: m.top, width: plotW, height: plotH }, niceTicks(y0, y1, 6), sy, yFmt);
  const xTicks = logX ? logTicks(10 ** x0, 10 ** x1) : niceTicks(x0, x1, 6);
  for (const t of xTicks) {
    const x = num(sx(t));
    parts.push(`<line x1="${x}" y1="${m.top}" x2="${x}" y2="${m.top + plotH}" stroke="#f0f0f0"/>`);
    parts.push(`<line x1="${x}" y1="${m.top + plotH}" x2="${x}" y2="${m.top + plotH + 4}" stroke="#999"/>`);
    parts.push(`<text x="${x}" y="${m.top + plotH + 16}" font-size="11" text-anchor="middle">${escapeXml(xFmt(t))}</text>`);
  }
  const xLabel = `${opts.xLabel}${logX ? ' (log scale)' : ''}`;
  parts.push(`<text x="${m.left + plotW / 2}" y="${height - 8}" font-size="12" text-anchor="middle">${escapeXml(xLabel)}</text>`);
  parts.push(
    `<text x="14" y="${m.top + plotH / 2}" font-size="12" text-anchor="middle" transform="rotate(-90 14 ${m.top + plotH / 2})">${escapeXml(opts.yLabel)}</text>`,
  );

  const marked = drawn.filter((p) => p.marked).sort((a, b) => a.x - b.x || b.y - a.y);
  if (marked.length > 0 && opts.markedName) {
    if (marked.length > 1) {
      const pts = marked.map((p) => `${num(sx(p.x))},${num(sy(p.y))}`).join(' ');
      parts.push(`<polyline class="front" fill="none" stroke="#555" stroke-width="1.5" stroke-dasharray="4 3" points="${pts}"/>`);
    }
    parts.push(`<circle cx="${m.left + 6}" cy="38" r="6" fill="none" stroke="#222" stroke-width="1.5"/>`);
    parts.push(`<text x="${m.left + 18}" y="38" font-size="11" dominant-baseline="middle">${escapeXml(opts.markedName)}</text>`);
  }
  // Labels are placed greedily, first at the upper right of their point, then at other offsets until one is free.
  const placed: { x0: number; x1: number; y0: number; y1: number }[] = [];
  const overlaps = (b: (typeof placed)[number]) => placed.some((o) => b.x0 < o.x1 && o.x0 < b.x1 && b.y0 < o.y1 && o.y0 < b.y1);
  drawn.forEach((p, i) => {
    const color = p.color ?? SERIES_COLORS[i % SERIES_COLORS.length];
    const cx = sx(p.x);
    const cy = sy(p.y);
    const w = labelWidth(p.label);
    const left = cx + 8 + w > width - 2;
    const offsets = [-7, 13, -19, 25, -31, 37];
    let box = { x0: 0, x1: 0, y0: 0, y1: 0 };
    let ly = cy - 7;
    for (const dy of offsets) {
      ly = Math.min(height - 4, Math.max(12, cy + dy));
      box = { x0: left ? cx - 8 - w : cx + 8, x1: left ? cx - 8 : cx + 8 + w, y0: ly - 10, y1: ly + 2 };
      if (!overlaps(box)) break;
    }
    placed.push(box);
    const label = escapeXml(p.label);
    parts.push(`<g class="point" data-label="${label}">`);
    parts.push(`<circle cx="${num(cx)}" cy="${num(cy)}" r="4.5" fill="${color}"><title>${label}</title></circle>`);
    if (p.marked) parts.push(`<circle cx="${num(cx)}" cy="${num(cy)}" r="8" fill="none" stroke="#222" stroke-width="1.5"/>`);
    parts.push(`<text x="${num(left ? cx - 8 : cx + 8)}" y="${num(ly)}" font-size="11"${left ? ' text-anchor="end"' : ''}>${label}</text>`);
    parts.push('</g>');
  });
  parts.push('</svg>');
  return parts.join('\n');
}

/** One bar of a bar chart: a signed value (a difference) and the text of its tooltip. */
export interface Bar {
  label: string;
  value: number;
  tip?: string;
}

/** A bar chart takes what a line chart does. */
export type BarOptions = ChartOptions;

/** Bars above zero (gain) and below it (loss) in Okabe-Ito blue and vermillion. */
export const GAIN_COLOR = '#0072B2';
export const LOSS_COLOR = '#D55E00';

/**
 * Vertical bars of signed values around a zero line: positive ones blue, negative ones
 * vermillion. With many bars only every few are labelled; each bar's tooltip names it.
 */
export function barChart(bars: Bar[], opts: BarOptions): string {
  const n = bars.length;
  const m = { left: 64, right: 16, top: 36, bottom: 48 };
  const width = opts.width ?? Math.min(1000, Math.max(520, m.left + m.right + n * (n <= 20 ? 28 : 7)));
  const height = opts.height ?? 300;
  const plotW = width - m.left - m.right;
  const plotH = height - m.top - m.bottom;
  const parts = chartOpening('chart bars', width, height, opts.title, m.left);
  const values = bars.map((b) => b.value).filter((v) => Number.isFinite(v));
  if (values.length === 0) {
    return noData(parts, m.left, m.top + plotH / 2);
  }
  // Zero is always on the axis, so a bar's length is its value.
  const [y0, y1] = domain([0, ...values]);
  const sy = (y: number) => m.top + plotH - ((y - y0) / (y1 - y0)) * plotH;
  const fmt = opts.yFormat ?? defaultFormat;
  const slot = plotW / n;
  const barW = Math.max(1, slot * 0.75);
  const step = n <= 20 ? 1 : n <= 50 ? 5 : 10;

  plotFrame(parts, { left: m.left, top: m.top, width: plotW, height: plotH }, niceTicks(y0, y1, 6), sy, fmt);
  bars.forEach((b, i) => {
    const cx = m.left + slot * (i + 0.5);
    if (i % step === 0) parts.push(`<text x="${num(cx)}" y="${m.top + plotH + 16}" font-size="11" text-anchor="middle">${escapeXml(b.label)}</text>`);
    if (!Number.isFinite(b.value) || b.value === 0) return;
    const top = sy(Math.max(0, b.value));
    const h = Math.abs(sy(b.value) - sy(0));
    const tip = escapeXml(b.tip ?? `${b.label}: ${fmt(b.value)}`);
    parts.push(
      `<rect class="bar ${b.value > 0 ? 'gain' : 'loss'}" x="${num(cx - barW / 2)}" y="${num(top)}" width="${num(barW)}" height="${num(Math.max(0.5, h))}" fill="${b.value > 0 ? GAIN_COLOR : LOSS_COLOR}"><title>${tip}</title></rect>`,
    );
  });
  // The zero line over the bars' feet.
  parts.push(`<line class="zero" x1="${m.left}" y1="${num(sy(0))}" x2="${m.left + plotW}" y2="${num(sy(0))}" stroke="#222" stroke-width="1"/>`);
  parts.push(`<text x="${m.left + plotW / 2}" y="${height - 8}" font-size="12" text-anchor="middle">${escapeXml(opts.xLabel)}</text>`);
  parts.push(
    `<text x="14" y="${m.top + plotH / 2}" font-size="12" text-anchor="middle" transform="rotate(-90 14 ${m.top + plotH / 2})">${escapeXml(opts.yLabel)}</text>`,
  );
  parts.push('</svg>');
  return parts.join('\n');
}
