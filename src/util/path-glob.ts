/**
 * Globs over dotted paths (`models.student_int8.tflite.accuracy`), as `kdq diff --only` takes them:
 * `*` matches within one segment (`student_*`, `*`), `**` matches any number of segments, zero
 * included. Matching is on whole paths.
 */

/** A compiled glob: true for the dotted paths it matches. */
export type PathMatcher = (path: string) => boolean;

function segmentRegExp(seg: string): RegExp {
  const body = seg.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^.]*');
  return new RegExp(`^${body}$`);
}

export function compilePathGlob(glob: string): PathMatcher {
  const parts = glob.split('.').map((s) => (s === '**' ? ('**' as const) : segmentRegExp(s)));
  return (path) => {
    const segs = path.split('.');
    // Memoized on (segment, part), so a glob of many `**` stays linear in their product, not exponential.
    const memo = new Map<number, boolean>();
    const match = (i: number, j: number): boolean => {
      const key = i * (parts.length + 1) + j;
      const known = memo.get(key);
      if (known !== undefined) return known;
      let r: boolean;
      const p = parts[j];
      if (p === undefined) r = i === segs.length;
      else if (p === '**') r = match(i, j + 1) || (i < segs.length && match(i + 1, j));
      else r = i < segs.length && p.test(segs[i]!) && match(i + 1, j + 1);
      memo.set(key, r);
      return r;
    };
    return match(0, 0);
  };
}

/** One matcher for several globs: a path matches when any of them does. */
export function anyPathGlob(globs: readonly string[]): PathMatcher {
  const ms = globs.map(compilePathGlob);
  return (path) => ms.some((m) => m(path));
}
