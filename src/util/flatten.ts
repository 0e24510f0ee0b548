/** JSON documents as dotted paths (`distillation.temperature`, `models.student.accuracy`, arrays by index). */

/** A leaf of a flattened JSON document. */
export type Leaf = number | string | boolean | null;

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

/** The paths whose values differ between two documents (added, removed or changed), sorted. */
export function changedPaths(a: unknown, b: unknown): { path: string; old?: Leaf; new?: Leaf }[] {
  const fa = flatten(a);
  const fb = flatten(b);
  const rows: { path: string; old?: Leaf; new?: Leaf }[] = [];
  for (const path of [...new Set([...fa.keys(), ...fb.keys()])].sort()) {
    if (fa.has(path) && fb.has(path) && fa.get(path) === fb.get(path)) continue;
    rows.push({ path, ...(fa.has(path) ? { old: fa.get(path) } : {}), ...(fb.has(path) ? { new: fb.get(path) } : {}) });
  }
  return rows;
}
