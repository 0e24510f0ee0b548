/**
 * Metrics as dotted paths: flattening a metrics.json (or config) document, the change of one value
 * between two runs, and how numbers are printed. Shared by the comparison, the gate language and
 * the output formats of `kdq diff`.
 */

import type { Leaf } from '../util/flatten.ts';

export { flatten, type Leaf } from '../util/flatten.ts';

/** Decimal places of a delta: those of metrics.json, so float noise never shows as a change. */
const DELTA_DIGITS = 6;

/** new - old of two numeric values, rounded as metrics.json rounds (null unless both are numbers). */
export function delta(o: Leaf | undefined, n: Leaf | undefined): number | null {
  return typeof o === 'number' && typeof n === 'number' ? Number((n - o).toFixed(DELTA_DIGITS)) : null;
}

export function formatNumber(x: number, signed = false): string {
  const s = String(x);
  return signed && x > 0 ? `+${s}` : s;
}
