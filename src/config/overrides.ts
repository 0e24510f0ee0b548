/**
 * `--set key.path=value` overrides from the command line, applied after `extends` and validated
 * like the file itself. The value is read as YAML (so `2`, `true`, `null`, `[1, 2]` and
 * `{temperature: 2}` mean what they mean in the file) with the same safety rules.
 */
import { isPlainObject } from './merge.ts';
import { parseYamlText } from './yaml-source.ts';

export interface SetOverride {
  /** The argument as written, e.g. `distillation.temperature=2`. */
  arg: string;
  path: string[];
  value: unknown;
}

const KEY_PATH = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
/** Segments that would reach Object.prototype instead of a key. */
const FORBIDDEN = new Set(['__proto__', 'prototype', 'constructor']);

/** Parses one `key.path=value`; returns the override or a message saying what is wrong. */
export function parseSetArg(arg: string): SetOverride | { error: string } {
  const eq = arg.indexOf('=');
  if (eq <= 0) return { error: `expected key.path=value, e.g. --set distillation.temperature=2` };
  const key = arg.slice(0, eq).trim();
  const text = arg.slice(eq + 1);
  if (!KEY_PATH.test(key)) return { error: `'${key}' is not a key path: write keys separated by dots, list items by number (student.layers.0.filters)` };
  const path = key.split('.');
  const bad = path.find((s) => FORBIDDEN.has(s));
  if (bad) return { error: `'${bad}' is not a key of an experiment` };
  if (path[0] === 'extends') return { error: "'extends' cannot be set on the command line; write it in the file" };
  const parsed = parseYamlText(text, `--set ${arg}`);
  if (parsed.issues.length > 0) return { error: `cannot read the value '${text}': ${parsed.issues.map((i) => i.message).join('; ')}` };
  return { arg, path, value: parsed.value === undefined ? null : parsed.value };
}

/**
 * Writes `o.value` at `o.path` inside `root` (modified in place), creating mappings on the way.
 * List items are addressed by index; an index one past the end appends. Returns an error message
 * when the path runs through a plain value or past the end of a list.
 */
export function applySet(root: Record<string, unknown>, o: SetOverride): string | undefined {
  let cur: unknown = root;
  for (let i = 0; i < o.path.length; i++) {
    const seg = o.path[i]!;
    const isLast = i === o.path.length - 1;
    const where = o.path.slice(0, i).join('.') || 'the document';
    if (Array.isArray(cur)) {
      const idx = Number(seg);
      const max = isLast ? cur.length : cur.length - 1;
      if (!/^\d+$/.test(seg) || idx > max) {
        return `'${where}' is a list of ${cur.length} items: use an index from 0 to ${max}, not '${seg}'`;
      }
      if (isLast) cur[idx] = o.value;
      else cur = cur[idx];
    } else if (isPlainObject(cur)) {
      if (isLast) {
        Object.defineProperty(cur, seg, { value: o.value, enumerable: true, writable: true, configurable: true });
      } else {
        if (cur[seg] === undefined || cur[seg] === null) {
          Object.defineProperty(cur, seg, { value: {}, enumerable: true, writable: true, configurable: true });
        }
        cur = cur[seg];
      }
    } else {
      return `'${where}' is ${JSON.stringify(cur)}, not a mapping or list, so it has no key '${seg}'`;
    }
  }
  return undefined;
}
