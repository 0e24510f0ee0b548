/**
 * How kdq prints numbers for people, one convention for `kdq diff`, `kdq runs`, the run summary,
 * the sweep summary and the report: an accuracy or agreement is a percentage with two decimals
 * (`97.05%`); a difference of accuracies (the KD gain, a change between two runs, a spread over
 * seeds) is in percentage points (`-2.60 pt`); sizes and counts are whole numbers. metrics.json,
 * `--json`, `--csv`, and the `--fail-on` and `--where` expressions keep metrics.json's fractions
 * (0.9705, -0.026), so `kd_gain < -0.01` reads "lost more than one point".
 */

/** A fraction as a percentage: `0.97054` -> `97.05%`. */
export const pct = (v: number | null | undefined): string => (v === undefined || v === null ? '-' : `${(v * 100).toFixed(2)}%`);

/** A size in KiB (1,024 bytes), as the report and the run summary print it. */
export const kib = (v: number | undefined): string => (v === undefined ? '-' : `${(v / 1024).toFixed(1)} KiB`);

/** A size for people (`340.0 KiB`): util/bytes-text.ts, shared with the cache commands. */
export { bytesText } from '../util/bytes-text.ts';

/** Signed percentage points without a unit, e.g. `+0.35` or `-1.20`; a change too small for two decimals gets four (`+0.0012`). */
export const points = (v: number): string => {
  const fixed = (Math.abs(v) * 100).toFixed(2);
  const text = fixed === '0.00' ? (Math.abs(v) * 100).toFixed(4).replace(/^0\.0000$/, '0.00') : fixed;
  return `${v >= 0 || text === '0.00' ? '+' : '-'}${text}`;
};

/** Signed percentage points with their unit: `-2.60 pt`. */
export const pt = (v: number): string => `${points(v)} pt`;

/**
 * Paths of metrics.json (and of `kdq runs` columns) whose values are fractions of the test set:
 * accuracies (per class too), agreements, the KD gain, and their means and spreads over seeds.
 */
const FRACTION = /(^|\.)(accuracy|per_class_accuracy|agreement_with_[a-z_]+|kd_gain|[a-z0-9_]+_acc)(\.\d+)?(\.(mean|std))?$/;

/** Is the value at `path` a fraction of the test set (printed as a percentage)? */
export function isFraction(path: string): boolean {
  return FRACTION.test(path);
}

/** A value that is itself a difference of accuracies: printed in signed points, not as a percentage. */
function isPointValue(path: string): boolean {
  return /(^|\.)kd_gain(\.mean)?$/.test(path);
}

/** A metric's value as people read it: `97.05%`, `-2.60 pt` (a KD gain), `0.35 pt` (a spread), `181000`. */
export function formatValue(path: string, v: number): string {
  if (!isFraction(path)) return String(v);
  if (path.endsWith('.std')) return `${(v * 100).toFixed(2)} pt`;
  return isPointValue(path) ? pt(v) : pct(v);
}

/** The change of a metric between two runs: percentage points for fractions, a signed number otherwise. */
export function formatChange(path: string, d: number): string {
  if (isFraction(path)) return pt(d);
  return d > 0 ? `+${d}` : String(d);
}

/** Hex digests (data and file hashes, cache keys) in a table cell: the first 12 digits, as `git log --oneline` shortens. */
export function shortenHashes(text: string): string {
  return text.replace(/\b[0-9a-f]{40,}\b/g, (h) => `${h.slice(0, 12)}…`);
}
