/**
 * Sweep expansion, pure: a `sweep:` block (plus `--sweep` arguments) becomes the list of points,
 * each a set of `key.path=value` overrides that the loader applies and validates like `--set`.
 * Grid keys are axes of a cartesian product (first key slowest, as written); the `zip` keys form
 * one more axis whose lists are walked in step.
 */
import { isPlainObject } from '../config/merge.ts';
import type { SweepConfig } from '../config/types.ts';
import { parseYamlText } from '../config/yaml-source.ts';

/** Top-level keys a sweep may not vary: they name the run or the file itself. */
export const UNSWEEPABLE_KEYS = ['name', 'extends', 'sweep'] as const;

export interface SweepPoint {
  /** 1-based position in expansion order. */
  index: number;
  /** `p1`, `p2`, ...: suffix of the point's experiment name and its row id in the summary. */
  id: string;
  /** Key path -> value of this point, grid keys first (as written), then zip keys. */
  params: Record<string, unknown>;
}

/** One `--sweep key.path=v1,v2,...` argument. */
export interface SweepArg {
  path: string;
  values: unknown[];
}

const KEY_PATH = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

/** The `sweep:` value of a schema-valid document as a SweepConfig (null when there is none): `zip` and `rank` are its reserved keys, every other key is a key path of the experiment. */
export function readSweepBlock(raw: unknown): SweepConfig | null {
  if (!isPlainObject(raw) || !isPlainObject(raw.sweep)) return null;
  const out: SweepConfig = { grid: {}, zip: {}, rank: null };
  for (const [k, v] of Object.entries(raw.sweep)) {
    if (k === 'zip' && isPlainObject(v)) out.zip = Object.fromEntries(Object.entries(v).map(([zk, zv]) => [zk, zv as unknown[]]));
    else if (k === 'rank') out.rank = typeof v === 'string' ? v : null;
    else out.grid[k] = v as unknown[];
  }
  return out;
}

/**
 * Parses `key.path=1,2,5`. Each comma-separated item is read as YAML (so `2`, `true`, `kl` mean
 * what they mean in the file); a value starting with `[` is read as one YAML list, for items that
 * contain commas themselves (`student.layers.0.kernelSize=[[3, 3], [5, 5]]`).
 */
export function parseSweepArg(arg: string): SweepArg | { error: string } {
  const eq = arg.indexOf('=');
  if (eq <= 0) return { error: `expected key.path=v1,v2,..., e.g. --sweep distillation.temperature=1,2,5` };
  const path = arg.slice(0, eq).trim();
  const text = arg.slice(eq + 1).trim();
  if (!KEY_PATH.test(path)) return { error: `'${path}' is not a key path: write keys separated by dots, e.g. distillation.temperature` };
  if (text === '') return { error: `no values after '=': list them separated by commas, e.g. ${path}=1,2,5` };
  const items = text.startsWith('[') ? [text] : text.split(',');
  const values: unknown[] = [];
  for (const item of items) {
    if (item.trim() === '') return { error: `empty value in '${text}': list values separated by single commas` };
    const parsed = parseYamlText(item, `--sweep ${arg}`);
    if (parsed.issues.length > 0) return { error: `cannot read the value '${item}': ${parsed.issues.map((i) => i.message).join('; ')}` };
    values.push(parsed.value === undefined ? null : parsed.value);
  }
  if (text.startsWith('[')) {
    const list = values[0];
    if (!Array.isArray(list) || list.length === 0) return { error: `'${text}' must be a non-empty list of values, e.g. [1, 2, 5]` };
    return { path, values: list };
  }
  return { path, values };
}

/** The file's sweep with command-line axes merged in: an argument replaces the file's axis of the same key. */
export function mergeSweepArgs(base: SweepConfig | null, args: SweepArg[]): SweepConfig | null {
  if (args.length === 0) return base;
  const out: SweepConfig = { grid: { ...(base?.grid ?? {}) }, zip: { ...(base?.zip ?? {}) }, rank: base?.rank ?? null };
  for (const a of args) {
    delete out.zip[a.path];
    out.grid[a.path] = a.values;
  }
  return out;
}

/** Problems of a sweep's shape that the schema cannot see, as [key path within sweep, message]. */
export function checkSweepShape(cfg: SweepConfig): [string[], string][] {
  const issues: [string[], string][] = [];
  const zipKeys = Object.keys(cfg.zip);
  const lengths = zipKeys.map((k) => cfg.zip[k]!.length);
  if (new Set(lengths).size > 1) {
    const desc = zipKeys.map((k, i) => `${k} has ${lengths[i]}`).join(', ');
    issues.push([
      ['zip'],
      `zip lists must have the same length (point i takes item i of each), but ${desc}; make them equal or move a key out of zip to sweep it as a grid`,
    ]);
  }
  for (const k of [...Object.keys(cfg.grid), ...zipKeys]) {
    const where = k in cfg.grid ? [k] : ['zip', k];
    const top = k.split('.')[0]!;
    if ((UNSWEEPABLE_KEYS as readonly string[]).includes(top))
      issues.push([where, `'${top}' cannot be swept; sweep settings such as distillation.temperature`]);
    else if (k in cfg.grid && k in cfg.zip) issues.push([where, `'${k}' is both a grid key and a zip key; keep one`]);
  }
  const all = [...Object.keys(cfg.grid), ...zipKeys];
  for (const a of all) {
    for (const b of all) {
      if (a !== b && b.startsWith(a + '.')) issues.push([b in cfg.grid ? [b] : ['zip', b], `'${b}' lies inside '${a}', which is swept too; sweep one of them`]);
    }
  }
  if (all.length === 0) issues.push([[], 'a sweep needs at least one key path mapped to a list of values, e.g. distillation.temperature: [1, 2, 5]']);
  return issues;
}

/** Every point of the sweep, first grid key varying slowest; the zip axis comes last. */
export function expandSweep(cfg: SweepConfig): SweepPoint[] {
  const axes: { keys: string[]; rows: unknown[][] }[] = Object.entries(cfg.grid).map(([k, vs]) => ({ keys: [k], rows: vs.map((v) => [v]) }));
  const zipKeys = Object.keys(cfg.zip);
  if (zipKeys.length > 0) {
    const n = Math.min(...zipKeys.map((k) => cfg.zip[k]!.length));
    axes.push({ keys: zipKeys, rows: Array.from({ length: n }, (_, i) => zipKeys.map((k) => cfg.zip[k]![i])) });
  }
  let combos: Record<string, unknown>[] = [{}];
  for (const axis of axes) {
    const next: Record<string, unknown>[] = [];
    for (const c of combos) {
      for (const row of axis.rows) {
        const p = { ...c };
        axis.keys.forEach((k, i) => (p[k] = row[i]));
        next.push(p);
      }
    }
    combos = next;
  }
  return combos.map((params, i) => ({ index: i + 1, id: `p${i + 1}`, params }));
}

/** `--set` arguments that turn the base experiment into this point. Values travel as JSON, which is YAML. */
export function pointSetArgs(point: SweepPoint): string[] {
  return Object.entries(point.params).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
}

/** The experiment name of a point: `<name>-<point id>`, so each point has its own run folders. */
export function pointName(baseName: string, point: SweepPoint): string {
  return `${baseName}-${point.id}`;
}
