/**
 * Plots the KD gain of a sweep: one point per run folder (its metrics.json summary over seeds), at
 * the value of one experiment key read from the folder's config.yaml, with error bars of one
 * standard deviation. Writes an SVG (no dependencies, no network) and prints the same numbers as a
 * Markdown table, so the plot and the table in docs/ come from the same run folders.
 *
 *   npx tsx scripts/plot-gain.ts --x distillation.temperature --out docs/kd-gain-temperature.svg \
 *       runs/kd-mnist-tiny-t1/latest runs/kd-mnist-tiny-t2/latest ...
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { KdqError } from '../src/errors.ts';
import type { Metrics, Stat } from '../src/report/metrics.ts';
import { writeFileAtomic } from '../src/util/atomic.ts';

/** One run folder of a sweep, reduced to what the plot and the table show. */
export interface SweepPoint {
  /** The folder it was read from. */
  dir: string;
  /** Value of the swept key in the run's config.yaml. */
  x: number;
  gain: Stat;
  kd: Stat;
  baseline: Stat;
  /** The int8 student's .tflite accuracy, when the run quantized to int8. */
  int8?: Stat;
}

/** The value at `keyPath` (dots, e.g. `distillation.temperature`) of a plain object. */
export function valueAt(doc: unknown, keyPath: string): unknown {
  let v: unknown = doc;
  for (const k of keyPath.split('.')) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined;
  return v;
}

/** Reads one run folder; throws a KdqError naming the file when something the plot needs is missing. */
export async function readSweepPoint(dir: string, keyPath: string): Promise<SweepPoint> {
  const read = async (name: string): Promise<string> => {
    try {
      return await readFile(join(dir, name), 'utf8');
    } catch {
      throw new KdqError('E_USAGE', `${join(dir, name)} cannot be read; pass run folders (e.g. runs/kd-mnist-tiny/latest) of finished runs`);
    }
  };
  const x = valueAt(parse(await read('config.yaml')), keyPath);
  if (typeof x !== 'number')
    throw new KdqError('E_USAGE', `${join(dir, 'config.yaml')}: ${keyPath} is ${JSON.stringify(x)}, not a number; pass a numeric key with --x`);
  const m = JSON.parse(await read('metrics.json')) as Metrics;
  const s = m.summary;
  const need = ['kd_gain', 'student.accuracy', 'student_baseline.accuracy'];
  const missing = need.filter((k) => !s?.[k]);
  if (!s || missing.length > 0) {
    throw new KdqError(
      'E_USAGE',
      `${join(dir, 'metrics.json')} has no summary of ${missing.join(', ')}; the run needs distillation.baseline and evaluation.seeds with at least two seeds`,
    );
  }
  return {
    dir,
    x,
    gain: s.kd_gain,
    kd: s['student.accuracy'],
    baseline: s['student_baseline.accuracy'],
    ...(s['student_int8.tflite.accuracy'] ? { int8: s['student_int8.tflite.accuracy'] } : {}),
  };
}

const pct = (v: number) => (v * 100).toFixed(2);

/** The points as a Markdown table (percent; gain in points), sorted by x. */
export function sweepTable(points: SweepPoint[], xName: string): string {
  const rows = [...points].sort((a, b) => a.x - b.x);
  const lines = [
    `| ${xName} | seeds | KD student | baseline | gain (points) | gain > 2 std? | int8 student |`,
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...rows.map(
      (p) =>
        `| ${p.x} | ${p.gain.n} | ${pct(p.kd.mean)} ± ${pct(p.kd.std)} | ${pct(p.baseline.mean)} ± ${pct(p.baseline.std)} | ${pct(p.gain.mean)} ± ${pct(p.gain.std)} | ${p.gain.mean > 2 * p.gain.std ? 'yes' : 'no'} | ${p.int8 ? `${pct(p.int8.mean)} ± ${pct(p.int8.std)}` : ''} |`,
    ),
  ];
  return lines.join('\n') + '\n';
}

/** Round tick values covering [lo, hi]. */
function ticks(lo: number, hi: number, count = 5): number[] {
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((f) => f * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toFixed(10)));
  return out;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** An SVG of gain (points) against x: mean ± one std per point, a dashed zero line. */
export function gainSvg(points: SweepPoint[], opts: { xLabel: string; title: string }): string {
  if (points.length === 0) throw new KdqError('E_USAGE', 'no run folders given; pass at least one');
  const rows = [...points].sort((a, b) => a.x - b.x);
  const W = 640;
  const H = 400;
  const m = { l: 64, r: 20, t: 40, b: 56 };
  const ys = rows.flatMap((p) => [(p.gain.mean - p.gain.std) * 100, (p.gain.mean + p.gain.std) * 100]);
  let [y0, y1] = [Math.min(0, ...ys), Math.max(0, ...ys)];
  const pad = (y1 - y0 || 1) * 0.1;
  [y0, y1] = [y0 - pad, y1 + pad];
  let [x0, x1] = [rows[0].x, rows[rows.length - 1].x];
  const xpad = (x1 - x0 || 1) * 0.06;
  [x0, x1] = [x0 - xpad, x1 + xpad];
  const sx = (x: number) => m.l + ((x - x0) / (x1 - x0)) * (W - m.l - m.r);
  const sy = (y: number) => H - m.b - ((y - y0) / (y1 - y0)) * (H - m.t - m.b);
  const f = (v: number) => v.toFixed(1);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="14">${esc(opts.title)}</text>`,
  ];
  for (const t of ticks(y0, y1)) {
    parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${f(sy(t))}" y2="${f(sy(t))}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${m.l - 6}" y="${f(sy(t) + 4)}" text-anchor="end">${t}</text>`);
  }
  for (const p of rows) parts.push(`<text x="${f(sx(p.x))}" y="${H - m.b + 18}" text-anchor="middle">${p.x}</text>`);
  parts.push(
    `<line x1="${m.l}" x2="${W - m.r}" y1="${f(sy(0))}" y2="${f(sy(0))}" stroke="#888" stroke-dasharray="4 3"/>`,
    `<line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${H - m.b}" stroke="black"/>`,
    `<line x1="${m.l}" x2="${W - m.r}" y1="${H - m.b}" y2="${H - m.b}" stroke="black"/>`,
    `<text x="${W / 2}" y="${H - 14}" text-anchor="middle">${esc(opts.xLabel)}</text>`,
    `<text transform="translate(18 ${(m.t + H - m.b) / 2}) rotate(-90)" text-anchor="middle">KD gain, points (mean ± 1 std over seeds)</text>`,
    `<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="${rows.map((p) => `${f(sx(p.x))},${f(sy(p.gain.mean * 100))}`).join(' ')}"/>`,
  );
  for (const p of rows) {
    const [cx, lo, hi] = [sx(p.x), sy((p.gain.mean - p.gain.std) * 100), sy((p.gain.mean + p.gain.std) * 100)];
    parts.push(
      `<line x1="${f(cx)}" x2="${f(cx)}" y1="${f(lo)}" y2="${f(hi)}" stroke="#1f77b4"/>`,
      `<line x1="${f(cx - 5)}" x2="${f(cx + 5)}" y1="${f(lo)}" y2="${f(lo)}" stroke="#1f77b4"/>`,
      `<line x1="${f(cx - 5)}" x2="${f(cx + 5)}" y1="${f(hi)}" y2="${f(hi)}" stroke="#1f77b4"/>`,
      `<circle cx="${f(cx)}" cy="${f(sy(p.gain.mean * 100))}" r="3.5" fill="#1f77b4"><title>${p.x}: ${pct(p.gain.mean)} ± ${pct(p.gain.std)} points (n = ${p.gain.n})</title></circle>`,
    );
  }
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

/** `--x KEY --out FILE.svg [--title TEXT] [--x-label TEXT] RUN_DIR...` */
export async function main(argv: string[]): Promise<string> {
  const opts: Record<string, string> = {};
  const dirs: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith('--')) {
      const v = argv[++i];
      if (v === undefined) throw new KdqError('E_USAGE', `${a} needs a value`);
      opts[a.slice(2)] = v;
    } else dirs.push(a);
  }
  for (const k of Object.keys(opts)) {
    if (!['x', 'out', 'title', 'x-label'].includes(k)) throw new KdqError('E_USAGE', `unknown option --${k}; use --x, --out, --title, --x-label`);
  }
  if (!opts.x || !opts.out) throw new KdqError('E_USAGE', 'usage: plot-gain --x KEY.PATH --out FILE.svg [--title TEXT] [--x-label TEXT] RUN_DIR...');
  const points = await Promise.all(dirs.map((d) => readSweepPoint(d, opts.x)));
  await writeFileAtomic(opts.out, gainSvg(points, { xLabel: opts['x-label'] ?? opts.x, title: opts.title ?? `KD gain against ${opts.x}` }));
  return sweepTable(points, opts.x);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).then(
    (table) => process.stdout.write(table),
    (e: unknown) => {
      process.stderr.write(`plot-gain: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = e instanceof KdqError ? 2 : 1;
    },
  );
}
