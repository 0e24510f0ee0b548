/**
 * "Did you mean ...?" for misspelt keys and names.
 */

/**
 * Optimal-string-alignment Damerau-Levenshtein distance: insertions, deletions, substitutions
 * and swaps of two adjacent characters each cost 1 (a swap is the most common typing slip).
 */
export function damerauLevenshtein(a: string, b: string): number {
  const n = a.length;
  const m = b.length;
  if (n === 0) return m;
  if (m === 0) return n;
  // Three rolling rows: the swap rule looks two rows back.
  let prev2 = new Array<number>(m + 1).fill(0);
  let prev = Array.from({ length: m + 1 }, (_, j) => j);
  let cur = new Array<number>(m + 1).fill(0);
  for (let i = 1; i <= n; i++) {
    cur[0] = i;
    for (let j = 1; j <= m; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, prev2[j - 2]! + 1);
      cur[j] = d;
    }
    [prev2, prev, cur] = [prev, cur, prev2];
  }
  return prev[m]!;
}

/**
 * The candidate closest to `input`, or undefined when none is close enough to be a plausible
 * typo. Case is ignored when measuring (`maxpool2d` vs `maxPooling2d`), and the allowance grows
 * with the length of the word, so short names need a near-exact match.
 */
export function suggest(input: string, candidates: readonly string[]): string | undefined {
  const low = input.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = damerauLevenshtein(low, c.toLowerCase());
    // On a tie prefer the candidate of the same length: 'relu7' is a slip for 'relu6', not 'relu'.
    const tieWins = d === bestDistance && best !== undefined && Math.abs(c.length - input.length) < Math.abs(best.length - input.length);
    if (d < bestDistance || tieWins) {
      best = c;
      bestDistance = d;
    }
  }
  if (best === undefined) return undefined;
  const allowance = Math.max(2, Math.floor(Math.max(input.length, best.length) / 3));
  if (bestDistance <= allowance && bestDistance < Math.max(input.length, best.length)) return best;
  // Abbreviations ('batchnorm', 'globalavg') are far in edits but are a unique prefix.
  const prefixed = candidates.filter((c) => low.length >= 4 && c.toLowerCase().startsWith(low));
  return prefixed.length === 1 ? prefixed[0] : undefined;
}

/** ` did you mean 'x'?` or an empty string, to append to a message. */
export function didYouMean(input: string, candidates: readonly string[]): string {
  const s = suggest(input, candidates);
  return s === undefined ? '' : `; did you mean '${s}'?`;
}
