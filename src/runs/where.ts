/**
 * `kdq runs --where EXPR`: the `--fail-on` language (report/gate.ts, form WHERE) over one run's
 * values. A path is the run's value; numbers compare as numbers and text (quoted) as text, a
 * true/false setting as the text 'true' or 'false'. A run without the value, or with a value of the
 * other type, does not match: a filter never fails, it leaves the run out.
 */
import { KdqError } from '../errors.ts';
import { compare, metricPaths, parseCondition, WHERE, type Condition, type Value } from '../report/gate.ts';
import type { Leaf } from '../report/metric-values.ts';
import { suggest } from '../util/suggest.ts';

/** The likely key for a mistyped one; a bare word is also compared with the last segment of each path (`tempreature`). */
export function suggestKey(key: string, candidates: string[]): string | undefined {
  const hint = suggest(key, candidates);
  if (key.includes('.')) return hint;
  const byTail = suggest(key, candidates.map((c) => c.split('.').at(-1)!));
  const full = byTail === undefined ? undefined : candidates.find((c) => c === byTail || c.endsWith(`.${byTail}`));
  return hint !== undefined && (full === undefined || hint.length <= key.length + 2) ? hint : full;
}

/** Parses `--where` expressions, checking that each path names a value of at least one run. */
export function parseWhere(texts: readonly string[], known: (path: string) => boolean, candidates: () => string[]): Condition[] {
  const conds = texts.map((t) => ({ text: t, cond: parseCondition(t, WHERE) }));
  for (const { text, cond } of conds) {
    for (const path of metricPaths(cond)) {
      if (known(path)) continue;
      const hint = suggestKey(path, candidates());
      throw new KdqError(
        'E_USAGE',
        `--where '${text}': no run listed has a value '${path}'${hint ? `; did you mean '${hint}'?` : ''} (a column of the table, a metrics.json path, or a config.yaml path; 'kdq runs --json' shows them)`,
      );
    }
  }
  return conds.map((c) => c.cond);
}

type Scalar = number | string | undefined;

function scalar(v: Leaf | undefined): Scalar {
  if (typeof v === 'boolean') return String(v);
  return v === null ? undefined : v;
}

function evalValue(v: Value, get: (path: string) => Leaf | undefined): Scalar {
  switch (v.kind) {
    case 'number':
    case 'string':
      return v.value;
    case 'metric':
      return scalar(get(v.path));
    case 'neg':
    case 'abs': {
      const x = evalValue(v.arg, get);
      if (typeof x !== 'number') return undefined;
      return v.kind === 'neg' ? -x : Math.abs(x);
    }
  }
}

/** Does the run whose values `get` returns match the condition? */
export function matchesWhere(c: Condition, get: (path: string) => Leaf | undefined): boolean {
  if (c.kind !== 'compare') return c.kind === 'and' ? matchesWhere(c.left, get) && matchesWhere(c.right, get) : matchesWhere(c.left, get) || matchesWhere(c.right, get);
  const a = evalValue(c.left, get);
  const b = evalValue(c.right, get);
  if (a === undefined || b === undefined || typeof a !== typeof b) return false;
  return compare(c.op, a, b);
}
