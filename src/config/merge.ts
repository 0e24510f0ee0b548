/**
 * `extends` merging: the child's mappings are merged into the base's key by key; lists and
 * plain values are replaced whole, because merging two layer lists item by item would build a
 * network nobody wrote.
 */

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A new value: `override` deep-merged over `base` (neither is modified). */
export function deepMerge(base: unknown, override: unknown): unknown {
  if (isPlainObject(base) && isPlainObject(override)) {
    const out: Record<string, unknown> = {};
    // defineProperty, not assignment: a key written `__proto__` must stay a plain (and then
    // rejected as unknown) key instead of replacing the object's prototype.
    const put = (k: string, v: unknown): void => {
      Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
    };
    for (const [k, v] of Object.entries(base)) put(k, v);
    for (const [k, v] of Object.entries(override)) put(k, Object.hasOwn(base, k) ? deepMerge(base[k], v) : v);
    return out;
  }
  return override;
}
