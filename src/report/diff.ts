/**
 * `kdq diff`: what changed between two runs' metrics.json and config.yaml, in the manner of
 * `dvc metrics diff`, and a regression gate (`--fail-on`) over metric deltas. Pure functions on
 * plain data; reading run folders is the caller's business (src/report/read-run.ts).
 */
import { KdqError } from '../errors.ts';
import { suggest } from '../util/suggest.ts';

/** A leaf of a flattened JSON document. */
export type Leaf = number | string | boolean | null;

/** One run as the diff sees it. */
export interface RunData {
  /** How the user named it, e.g. `runs/kd-mnist/latest` or `kd-mnist`. */
  label: string;
  metrics: unknown;
  /** The parsed config.yaml; undefined when the folder has none. */
  config?: unknown;
}

export interface MetricRow {
  /** Dotted path, array items by index: `models.student.per_class_accuracy.3`. */
  path: string;
  /** Absent when the metric is missing in that run. */
  old?: Leaf;
  new?: Leaf;
  /** new - old, rounded like metrics.json; null unless both are numbers. */
  delta: number | null;
  changed: boolean;
}

export interface ConfigRow {
  key: string;
  /** JSON text of the value; absent when the key is missing in that run. */
  old?: string;
  new?: string;
}

export interface GateResult {
  expression: string;
  crossed: boolean;
  /** The values the verdict rests on, e.g. `delta(models.student.accuracy) = -0.01`. */
  detail: string;
}

export interface RunDiff {
  old: string;
  new: string;
  /** No metric and no config key differs. */
  identical: boolean;
  /** Metrics compared (changed or not). */
  compared: number;
  /** Changed metrics only, unless `all`. */
  metrics: MetricRow[];
  config: ConfigRow[];
  /** Why the configs were not compared (a folder without config.yaml). */
  configNote?: string;
  gates: GateResult[];
}

/**
 * Keys whose subtrees the diff does not list cell by cell: a confusion matrix is 100 counts that
 * move together with the accuracies the diff already shows (report.html draws it).
 */
export const DIFF_SKIPPED_KEYS = ['confusion_matrix'] as const;

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

function delta(o: Leaf | undefined, n: Leaf | undefined): number | null {
  return typeof o === 'number' && typeof n === 'number' ? Number((n - o).toFixed(DELTA_DIGITS)) : null;
}

/** Every path of either document, in sorted order, with its old and new values. */
export function compareMetrics(oldM: unknown, newM: unknown): MetricRow[] {
  const a = flatten(oldM, { skip: DIFF_SKIPPED_KEYS });
  const b = flatten(newM, { skip: DIFF_SKIPPED_KEYS });
  const paths = [...new Set([...a.keys(), ...b.keys()])].sort();
  return paths.map((path) => {
    const row: MetricRow = { path, delta: delta(a.get(path), b.get(path)), changed: a.has(path) !== b.has(path) || a.get(path) !== b.get(path) };
    if (a.has(path)) row.old = a.get(path);
    if (b.has(path)) row.new = b.get(path);
    return row;
  });
}

/** Config keys whose values differ (values as JSON text). */
export function compareConfig(oldC: unknown, newC: unknown): ConfigRow[] {
  const a = flatten(oldC);
  const b = flatten(newC);
  const keys = [...new Set([...a.keys(), ...b.keys()])].sort();
  const rows: ConfigRow[] = [];
  for (const key of keys) {
    if (a.has(key) && b.has(key) && a.get(key) === b.get(key)) continue;
    const row: ConfigRow = { key };
    if (a.has(key)) row.old = JSON.stringify(a.get(key));
    if (b.has(key)) row.new = JSON.stringify(b.get(key));
    rows.push(row);
  }
  return rows;
}

export interface DiffOptions {
  /** List unchanged metrics too. */
  all?: boolean;
  /** `--fail-on` expressions. */
  failOn?: readonly string[];
}

/** Compares two runs; throws E_USAGE on a bad `--fail-on` expression. */
export function diffRuns(oldRun: RunData, newRun: RunData, opts: DiffOptions = {}): RunDiff {
  const rows = compareMetrics(oldRun.metrics, newRun.metrics);
  const missing = [oldRun, newRun].filter((r) => r.config === undefined).map((r) => r.label);
  const config = missing.length === 0 ? compareConfig(oldRun.config, newRun.config) : [];
  const values = { old: flatten(oldRun.metrics), new: flatten(newRun.metrics) };
  // Parse every gate before evaluating any, so a typo in the second is not hidden by the first.
  const conditions = (opts.failOn ?? []).map((text) => ({ text, cond: parseCondition(text) }));
  for (const c of conditions) checkPaths(c.text, c.cond, values);
  const out: RunDiff = {
    old: oldRun.label,
    new: newRun.label,
    identical: rows.every((r) => !r.changed) && config.length === 0,
    compared: rows.length,
    metrics: opts.all ? rows : rows.filter((r) => r.changed),
    config,
    gates: conditions.map((c) => ({ expression: c.text, ...evaluateCondition(c.cond, values) })),
  };
  if (missing.length > 0) out.configNote = `config not compared: no config.yaml in ${missing.join(' and ')}`;
  return out;
}

// ---------------------------------------------------------------------------------------------
// --fail-on: a small expression language, parsed (never evaluated as code).
//
//   expr   := and ('or' and)*            ('||' also works)
//   and    := atom ('and' atom)*         ('&&' also works)
//   atom   := '(' expr ')' | value OP value          OP: < <= > >= == !=
//   value  := NUMBER | PATH | FN '(' PATH ')' | 'abs' '(' value ')' | '-' value
//   FN     := delta | old | new
//
// A bare PATH means delta(PATH) = new - old, so `models.student_int8.tflite.accuracy < -0.005`
// fails when the int8 student lost more than half a point.
// ---------------------------------------------------------------------------------------------

export type Value =
  | { kind: 'number'; value: number }
  | { kind: 'metric'; of: 'delta' | 'old' | 'new'; path: string }
  | { kind: 'abs'; arg: Value }
  | { kind: 'neg'; arg: Value };

export const COMPARISONS = ['<', '<=', '>', '>=', '==', '!='] as const;
export type Comparison = (typeof COMPARISONS)[number];

export type Condition =
  | { kind: 'compare'; op: Comparison; left: Value; right: Value }
  | { kind: 'and' | 'or'; left: Condition; right: Condition };

const EXAMPLE = `e.g. --fail-on 'models.student_int8.tflite.accuracy < -0.005' (a bare metric path means its change, new - old; old(PATH), new(PATH), abs(...), and, or, parentheses also work)`;

interface Token {
  type: 'number' | 'word' | 'op' | '(' | ')' | ',' | 'end';
  text: string;
  /** 1-based column in the expression. */
  col: number;
}

function gateError(input: string, col: number, what: string): KdqError {
  const caret = col > 0 ? `\n  ${input}\n  ${' '.repeat(col - 1)}^` : '';
  return new KdqError('E_USAGE', `--fail-on '${input}': ${what}${col > 0 ? ` at column ${col}` : ''}; ${EXAMPLE}${caret}`);
}

function tokenize(input: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < input.length) {
    const c = input[i];
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const rest = input.slice(i);
    const num = /^(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?/.exec(rest);
    const word = /^[A-Za-z_][A-Za-z0-9_.-]*/.exec(rest);
    const op = /^(<=|>=|==|!=|&&|\|\||<|>)/.exec(rest);
    if (num) {
      tokens.push({ type: 'number', text: num[0], col: i + 1 });
      i += num[0].length;
    } else if (word) {
      tokens.push({ type: 'word', text: word[0], col: i + 1 });
      i += word[0].length;
    } else if (op) {
      tokens.push({ type: 'op', text: op[0], col: i + 1 });
      i += op[0].length;
    } else if (c === '(' || c === ')' || c === ',') {
      tokens.push({ type: c, text: c, col: i + 1 });
      i++;
    } else if (c === '-') {
      tokens.push({ type: 'op', text: '-', col: i + 1 });
      i++;
    } else if (c === '=') {
      throw gateError(input, i + 1, "'=' alone is not a comparison (use == to test equality)");
    } else {
      throw gateError(input, i + 1, `unexpected character '${c}'`);
    }
  }
  tokens.push({ type: 'end', text: '', col: input.length + 1 });
  return tokens;
}

const FUNCTIONS = ['delta', 'old', 'new', 'abs'] as const;

/** Parses a `--fail-on` expression; throws E_USAGE quoting the input, the column and an example. */
export function parseCondition(input: string): Condition {
  if (input.trim() === '') throw gateError(input, 0, 'the expression is empty');
  const tokens = tokenize(input);
  let pos = 0;
  const peek = () => tokens[pos];
  const next = () => tokens[pos++];
  const describeToken = (t: Token) => (t.type === 'end' ? 'the end of the expression' : `'${t.text}'`);
  const expect = (type: Token['type'], what: string): Token => {
    const t = next();
    if (t.type !== type) throw gateError(input, t.col, `expected ${what}, found ${describeToken(t)}`);
    return t;
  };
  const isWord = (t: Token, ...w: string[]) => t.type === 'word' && w.includes(t.text);

  const value = (): Value => {
    const t = next();
    if (t.type === 'number') return { kind: 'number', value: Number(t.text) };
    if (t.type === 'op' && t.text === '-') return { kind: 'neg', arg: value() };
    if (t.type === 'word') {
      if ((FUNCTIONS as readonly string[]).includes(t.text) && peek().type === '(') {
        next();
        let v: Value;
        if (t.text === 'abs') v = { kind: 'abs', arg: value() };
        else {
          const p = expect('word', `a metric path inside ${t.text}(...)`);
          v = { kind: 'metric', of: t.text as 'delta' | 'old' | 'new', path: p.text };
        }
        expect(')', `')' to close ${t.text}(`);
        return v;
      }
      if (isWord(t, 'and', 'or')) throw gateError(input, t.col, `expected a number or a metric path, found '${t.text}'`);
      return { kind: 'metric', of: 'delta', path: t.text };
    }
    throw gateError(input, t.col, `expected a number or a metric path, found ${describeToken(t)}`);
  };

  const atom = (): Condition => {
    if (peek().type === '(') {
      next();
      const c = expr();
      expect(')', "')'");
      return c;
    }
    const left = value();
    const t = next();
    if (t.type !== 'op' || !(COMPARISONS as readonly string[]).includes(t.text)) {
      throw gateError(input, t.col, `expected a comparison (${COMPARISONS.join(' ')}), found ${describeToken(t)}`);
    }
    return { kind: 'compare', op: t.text as Comparison, left, right: value() };
  };

  const and = (): Condition => {
    let c = atom();
    while (isWord(peek(), 'and') || (peek().type === 'op' && peek().text === '&&')) {
      next();
      c = { kind: 'and', left: c, right: atom() };
    }
    return c;
  };

  const expr = (): Condition => {
    let c = and();
    while (isWord(peek(), 'or') || (peek().type === 'op' && peek().text === '||')) {
      next();
      c = { kind: 'or', left: c, right: and() };
    }
    return c;
  };

  const c = expr();
  const t = peek();
  if (t.type !== 'end') throw gateError(input, t.col, `unexpected ${describeToken(t)} after a complete condition (join conditions with 'and' or 'or')`);
  return c;
}

function metricPaths(v: Value | Condition, out: string[] = []): string[] {
  if (v.kind === 'metric') out.push(v.path);
  else if (v.kind === 'abs' || v.kind === 'neg') metricPaths(v.arg, out);
  else if (v.kind === 'compare') {
    metricPaths(v.left, out);
    metricPaths(v.right, out);
  } else if (v.kind === 'and' || v.kind === 'or') {
    metricPaths(v.left, out);
    metricPaths(v.right, out);
  }
  return out;
}

interface Values {
  old: Map<string, Leaf>;
  new: Map<string, Leaf>;
}

/** A gate must name numeric metrics of at least one of the two runs. */
function checkPaths(input: string, c: Condition, v: Values): void {
  const numeric = [...new Set([...v.old.keys(), ...v.new.keys()])].filter((p) => typeof (v.old.get(p) ?? v.new.get(p)) === 'number');
  for (const path of metricPaths(c)) {
    const x = v.old.has(path) ? v.old.get(path) : v.new.get(path);
    if (!v.old.has(path) && !v.new.has(path)) {
      const hint = suggest(path, numeric);
      throw new KdqError(
        'E_USAGE',
        `--fail-on '${input}': no metric '${path}' in either run${hint ? `; did you mean '${hint}'?` : ''} (metric paths are dotted keys of metrics.json, as 'kdq diff --all' lists them)`,
      );
    }
    if (typeof x !== 'number' && x !== null) {
      throw new KdqError('E_USAGE', `--fail-on '${input}': metric '${path}' is ${JSON.stringify(x)}, not a number; compare a numeric metric such as an accuracy or a size`);
    }
  }
}

/** Why a value could not be computed (a metric missing in one run). */
class Missing {
  constructor(readonly why: string) {}
}

function evalValue(v: Value, vals: Values, notes: string[]): number | Missing {
  switch (v.kind) {
    case 'number':
      return v.value;
    case 'neg':
    case 'abs': {
      const x = evalValue(v.arg, vals, notes);
      if (x instanceof Missing) return x;
      return v.kind === 'neg' ? -x : Math.abs(x);
    }
    case 'metric': {
      const o = vals.old.get(v.path);
      const n = vals.new.get(v.path);
      const need = v.of === 'delta' ? [['old', o], ['new', n]] : [[v.of, v.of === 'old' ? o : n]];
      for (const [which, x] of need as [string, Leaf | undefined][]) {
        if (typeof x !== 'number') return new Missing(`${v.path} is ${x === undefined ? 'missing' : JSON.stringify(x)} in the ${which} run`);
      }
      const x = v.of === 'delta' ? Number(((n as number) - (o as number)).toFixed(DELTA_DIGITS)) : ((v.of === 'old' ? o : n) as number);
      notes.push(`${v.of}(${v.path}) = ${formatNumber(x, v.of === 'delta')}`);
      return x;
    }
  }
}

function compare(op: Comparison, a: number, b: number): boolean {
  switch (op) {
    case '<':
      return a < b;
    case '<=':
      return a <= b;
    case '>':
      return a > b;
    case '>=':
      return a >= b;
    case '==':
      return a === b;
    case '!=':
      return a !== b;
  }
}

/**
 * True when the threshold is crossed. A metric missing from one run crosses it: a gate that
 * cannot be checked must not pass silently.
 */
export function evaluateCondition(c: Condition, vals: Values): { crossed: boolean; detail: string } {
  const notes: string[] = [];
  const missing: string[] = [];
  const walk = (c: Condition): boolean => {
    if (c.kind === 'compare') {
      const a = evalValue(c.left, vals, notes);
      const b = evalValue(c.right, vals, notes);
      if (a instanceof Missing || b instanceof Missing) {
        missing.push(...[a, b].filter((x): x is Missing => x instanceof Missing).map((m) => m.why));
        return true;
      }
      return compare(c.op, a, b);
    }
    // Both sides are evaluated, so the detail names every value the verdict looked at.
    const l = walk(c.left);
    const r = walk(c.right);
    return c.kind === 'and' ? l && r : l || r;
  };
  const crossed = walk(c);
  const detail = missing.length > 0 ? `cannot check: ${[...new Set(missing)].join('; ')}` : notes.join(', ');
  return { crossed: crossed || missing.length > 0, detail };
}

// ---------------------------------------------------------------------------------------------
// Output: a plain table (default), a GitHub table (--md), JSON (--json).
// ---------------------------------------------------------------------------------------------

export function formatNumber(x: number, signed = false): string {
  const s = String(x);
  return signed && x > 0 ? `+${s}` : s;
}

function leaf(v: Leaf | undefined): string {
  if (v === undefined) return '-';
  return typeof v === 'string' ? v : JSON.stringify(v);
}

function change(r: MetricRow): string {
  if (r.delta !== null) return formatNumber(r.delta, true);
  if (r.old === undefined) return 'added';
  if (r.new === undefined) return 'removed';
  return r.changed ? 'changed' : '-';
}

function textTable(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c])).join('  ').trimEnd()).join('\n');
}

/** The default output: aligned columns, like `dvc metrics diff`. */
export function formatDiffText(d: RunDiff): string {
  const out = [`old: ${d.old}`, `new: ${d.new}`, ''];
  if (d.metrics.length === 0) out.push(`metrics: identical (${d.compared} compared)`);
  else out.push(textTable([['Metric', 'Old', 'New', 'Change'], ...d.metrics.map((r) => [r.path, leaf(r.old), leaf(r.new), change(r)])]));
  out.push('');
  if (d.configNote) out.push(d.configNote);
  else if (d.config.length === 0) out.push('config: identical');
  else out.push(textTable([['Config key', 'Old', 'New'], ...d.config.map((r) => [r.key, r.old ?? '-', r.new ?? '-'])]));
  for (const [i, g] of d.gates.entries()) out.push(...(i === 0 ? [''] : []), `${g.crossed ? 'FAIL' : 'ok  '} ${g.expression}${g.detail ? `: ${g.detail}` : ''}`);
  return out.join('\n');
}

function mdCell(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\r?\n/g, ' ');
}

/** A code span inside a table cell: GitHub still needs `\|` there. */
function mdCode(s: string): string {
  return `\`${s.replace(/`/g, "'").replace(/\|/g, '\\|')}\``;
}

/** A GitHub table for a pull-request comment. */
export function formatDiffMd(d: RunDiff): string {
  const out = [`Comparing \`${d.old.replace(/`/g, "'")}\` (old) with \`${d.new.replace(/`/g, "'")}\` (new).`, ''];
  if (d.metrics.length === 0) out.push(`**Metrics:** identical (${d.compared} compared).`);
  else {
    out.push('| Metric | Old | New | Change |', '| --- | ---: | ---: | ---: |');
    for (const r of d.metrics) out.push(`| ${mdCode(r.path)} | ${mdCell(leaf(r.old))} | ${mdCell(leaf(r.new))} | ${mdCell(change(r))} |`);
  }
  out.push('');
  if (d.configNote) out.push(`**Config:** ${mdCell(d.configNote)}.`);
  else if (d.config.length === 0) out.push('**Config:** identical.');
  else {
    out.push('| Config key | Old | New |', '| --- | --- | --- |');
    for (const r of d.config) out.push(`| ${mdCode(r.key)} | ${mdCell(r.old ?? '-')} | ${mdCell(r.new ?? '-')} |`);
  }
  for (const [i, g] of d.gates.entries()) {
    // In a list item a code span needs no escaping but its own fence.
    const expr = `\`${g.expression.replace(/`/g, "'")}\``;
    out.push(...(i === 0 ? [''] : []), `- ${g.crossed ? '**FAIL**' : 'ok'} ${expr}${g.detail ? `: ${mdCell(g.detail)}` : ''}`);
  }
  return out.join('\n') + '\n';
}

export function formatDiffJson(d: RunDiff): string {
  return JSON.stringify(d, null, 2) + '\n';
}
