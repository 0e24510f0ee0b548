/**
 * Metrics as dotted paths: flattening a metrics.json (or config) document, the change of one value
 * between two runs, and how numbers are printed. Shared by the comparison, the gate language and
 * the output formats of `kdq diff`.
 */

/** A leaf of a flattened JSON document. */
export type Leaf = number | string | boolean | null;

/** One run as the diff sees it. */
/** Decimal places of a delta: those of metrics.json, so float noise never shows as a change. */
const DELTA_DIGITS = 6;

/** Flattens JSON into dotted paths; arrays by index. */
export function flatten(v: unknown, opts: { skip?: readonly string[] } = {}, prefix = '', out = new Map<string, Leaf>()): Map<string, Leaf> {
  if (Array.isArray(v)) {
    if (v.length === 0 && prefix) out.set(prefix, '[]');
    v.forEach((x, i) => flatten(x, opts, prefix ? `${prefix}.${i}` : String(i), out));
  } else if (v !== null && typeof v === 'object') {
    const keys = Object.keys(v).sort();
    if (keys.length === 0 && prefix) out.set(prefix, '{}');
    for (const k of keys) {
      if (opts.skip?.includes(k)) continue;
      flatten((v as Record<string, unknown>)[k], opts, prefix ? `${prefix}.${k}` : k, out);
    }
  } else if (v !== undefined && prefix) {
    out.set(prefix, v as Leaf);
  }
  return out;
}

/** new - old of two numeric values, rounded as metrics.json rounds (null unless both are numbers). */
export function delta(o: Leaf | undefined, n: Leaf | undefined): number | null {
  return typeof o === 'number' && typeof n === 'number' ? Number((n - o).toFixed(DELTA_DIGITS)) : null;
}

export function formatNumber(x: number, signed = false): string {
  const s = String(x);
  return signed && x > 0 ? `+${s}` : s;
}
