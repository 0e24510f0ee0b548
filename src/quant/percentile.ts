/** Percentiles of calibration values, for clipping rare outliers out of an activation range. */

/**
 * The p-th percentile (0..100) of `values`, linearly interpolated between order statistics.
 * Sorts a copy; the input is left as it is.
 */
export function percentile(values: Float32Array, p: number): number {
  if (values.length === 0) return 0;
  const sorted = Float32Array.from(values).sort();
  const rank = (Math.min(100, Math.max(0, p)) / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
}
