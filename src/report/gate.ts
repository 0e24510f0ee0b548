/**
 * `--fail-on`: a small expression language over the metrics of two runs, parsed (never evaluated
 * as code), for regression gates in CI. `kdq runs --where` speaks the same language over one run's
 * values (GateLanguage WHERE): there a bare path is the run's value, `delta`, `old` and `new` have
 * nothing to compare, and quoted strings compare with text values (`experiment == 'kd-mnist'`).
 */
import { KdqError } from '../errors.ts';
import { suggest } from '../util/suggest.ts';
import { delta, formatNumber, type Leaf } from './metric-values.ts';
import { formatChange, formatValue, isFraction } from './units.ts';

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
  | { kind: 'string'; value: string }
  | { kind: 'metric'; of: 'delta' | 'old' | 'new'; path: string }
  | { kind: 'abs'; arg: Value }
  | { kind: 'neg'; arg: Value };

export const COMPARISONS = ['<', '<=', '>', '>=', '==', '!='] as const;
export type Comparison = (typeof COMPARISONS)[number];

export type Condition = { kind: 'compare'; op: Comparison; left: Value; right: Value } | { kind: 'and' | 'or'; left: Condition; right: Condition };

/** Which form of the language an expression is written in: the flag it came from, and what a bare path means. */
export interface GateLanguage {
  flag: '--fail-on' | '--where';
  /** Shown with every parse error. */
  example: string;
  /** `delta`: a bare path is its change between two runs (old/new/delta exist); `value`: one run's value (quoted strings exist). */
  bare: 'delta' | 'value';
}

export const FAIL_ON: GateLanguage = {
  flag: '--fail-on',
  example: `e.g. --fail-on 'models.student_int8.tflite.accuracy < -0.005' (a bare metric path means its change, new - old; old(PATH), new(PATH), abs(...), and, or, parentheses also work)`,
  bare: 'delta',
};

export const WHERE: GateLanguage = {
  flag: '--where',
  example: `e.g. --where 'int8_acc >= 0.97 and distillation.temperature > 2' (a path is the run's value: a column of the table, a metrics.json or config.yaml path; quoted text compares with text, e.g. experiment == 'kd-mnist'; abs(...), and, or, parentheses also work)`,
  bare: 'value',
};

interface Token {
  type: 'number' | 'string' | 'word' | 'op' | '(' | ')' | ',' | 'end';
  text: string;
  /** 1-based column in the expression. */
  col: number;
}

function gateErrorIn(input: string, col: number, what: string, lang: GateLanguage): KdqError {
  const caret = col > 0 ? `\n  ${input}\n  ${' '.repeat(col - 1)}^` : '';
  return new KdqError('E_USAGE', `${lang.flag} '${input}': ${what}${col > 0 ? ` at column ${col}` : ''}; ${lang.example}${caret}`);
}

function tokenize(input: string, lang: GateLanguage): Token[] {
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
      throw gateErrorIn(input, i + 1, "'=' alone is not a comparison (use == to test equality)", lang);
    } else if ((c === "'" || c === '"') && lang.bare === 'value') {
      const end = input.indexOf(c, i + 1);
      if (end === -1) throw gateErrorIn(input, i + 1, `the text opened here has no closing ${c}`, lang);
      tokens.push({ type: 'string', text: input.slice(i + 1, end), col: i + 1 });
      i = end + 1;
    } else {
      throw gateErrorIn(input, i + 1, `unexpected character '${c}'`, lang);
    }
  }
  tokens.push({ type: 'end', text: '', col: input.length + 1 });
  return tokens;
}

const FUNCTIONS = ['delta', 'old', 'new', 'abs'] as const;

/** Parses a `--fail-on` expression; throws E_USAGE quoting the input, the column and an example. */
/** A gate is a line of a CI file: longer or deeper expressions are mistakes (or attacks on the parser's stack). */
export const MAX_GATE_LENGTH = 2000;
export const MAX_GATE_NESTING = 32;

export function parseCondition(input: string, lang: GateLanguage = FAIL_ON): Condition {
  const gateError = (text: string, col: number, what: string) => gateErrorIn(text, col, what, lang);
  if (input.trim() === '') throw gateError(input, 0, 'the expression is empty');
  if (input.length > MAX_GATE_LENGTH) {
    throw new KdqError(
      'E_USAGE',
      `${lang.flag}: the expression is ${input.length} characters long, over the ${MAX_GATE_LENGTH}-character limit; split it into several ${lang.flag} expressions`,
    );
  }
  let depth = 0;
  for (let i = 0; i < input.length; i++) {
    if (input[i] === '(' && ++depth > MAX_GATE_NESTING)
      throw gateError(input, i, `parentheses nest deeper than ${MAX_GATE_NESTING} levels; simplify the expression`);
    if (input[i] === ')') depth = Math.max(0, depth - 1);
  }
  const tokens = tokenize(input, lang);
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
    if (t.type === 'string') return { kind: 'string', value: t.text };
    if (t.type === 'op' && t.text === '-') return { kind: 'neg', arg: value() };
    if (t.type === 'word') {
      if ((FUNCTIONS as readonly string[]).includes(t.text) && peek().type === '(') {
        if (lang.bare === 'value' && t.text !== 'abs') {
          throw gateError(input, t.col, `${t.text}(...) compares two runs, and ${lang.flag} looks at one: write the path alone for the run's value`);
        }
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
      // In --where a bare path is the run's value: `new` of the one run there is.
      return { kind: 'metric', of: lang.bare === 'delta' ? 'delta' : 'new', path: t.text };
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

/** Every path an expression names, in order (repeats kept). */
export function metricPaths(v: Value | Condition, out: string[] = []): string[] {
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

export interface Values {
  old: Map<string, Leaf>;
  new: Map<string, Leaf>;
}

/** A gate must name numeric metrics of at least one of the two runs. */
export function checkPaths(input: string, c: Condition, v: Values): void {
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
      throw new KdqError(
        'E_USAGE',
        `--fail-on '${input}': metric '${path}' is ${JSON.stringify(x)}, not a number; compare a numeric metric such as an accuracy or a size`,
      );
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
    case 'string':
      // --fail-on has no text literals (the tokenizer refuses quotes there).
      return new Missing(`'${v.value}' is text, not a number`);
    case 'neg':
    case 'abs': {
      const x = evalValue(v.arg, vals, notes);
      if (x instanceof Missing) return x;
      return v.kind === 'neg' ? -x : Math.abs(x);
    }
    case 'metric': {
      const o = vals.old.get(v.path);
      const n = vals.new.get(v.path);
      const need =
        v.of === 'delta'
          ? [
              ['old', o],
              ['new', n],
            ]
          : [[v.of, v.of === 'old' ? o : n]];
      for (const [which, x] of need as [string, Leaf | undefined][]) {
        if (typeof x !== 'number') return new Missing(`${v.path} is ${x === undefined ? 'missing' : JSON.stringify(x)} in the ${which} run`);
      }
      const x = v.of === 'delta' ? (delta(o, n) as number) : ((v.of === 'old' ? o : n) as number);
      // A fraction is also said as people read it (units.ts): `= -0.026 (-2.60 pt)`.
      const unit = isFraction(v.path) ? ` (${v.of === 'delta' ? formatChange(v.path, x) : formatValue(v.path, x)})` : '';
      notes.push(`${v.of}(${v.path}) = ${formatNumber(x, v.of === 'delta')}${unit}`);
      return x;
    }
  }
}

/** `a OP b` for two numbers or two strings (compared as text). */
export function compare<T extends number | string>(op: Comparison, a: T, b: T): boolean {
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
