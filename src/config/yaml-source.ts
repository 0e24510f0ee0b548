/**
 * Parses one YAML text into plain data plus the line and column of every key and value, so that
 * an error found later (by the schema or a semantic check) can point at the spot the user wrote.
 * Nothing in a config runs as code: explicit tags other than YAML's core ones are rejected, alias
 * expansion is bounded, and oversized documents are refused before parsing.
 */
import { readFile, stat } from 'node:fs/promises';
import { LineCounter, isAlias, isMap, isPair, isScalar, isSeq, parseDocument, visit, type Node } from 'yaml';
import type { ConfigIssue } from '../errors.ts';

/**
 * Experiment files are a few KB; anything larger is a mistake or an attack. The bound is tight
 * because parsing costs time and memory per node: a 1 MiB document of tiny flow items took tens
 * of seconds and hundreds of MB to parse.
 */
export const MAX_FILE_BYTES = 32 * 1024;
/** Nesting a document may have; deeper nesting overflows the parser's stack. Real files nest about 5 deep. */
export const MAX_DEPTH = 64;
/** Aliases a document may expand; a "billion laughs" document needs far more. */
export const MAX_ALIAS_COUNT = 100;

/** Tags YAML's core schema resolves to plain data; any other explicit tag is refused. */
const CORE_TAGS = new Set(['str', 'int', 'float', 'bool', 'null', 'seq', 'map'].map((t) => `tag:yaml.org,2002:${t}`));

export interface Position {
  line: number;
  col: number;
}

/** Where a value was written: its key (absent for list items) and the value itself. */
export interface NodeLocation {
  key?: Position;
  value: Position;
  /** The value is a mapping or a list (errors about it read better at its key). */
  collection: boolean;
}

export interface ParsedYaml {
  file: string;
  /** Plain data, or undefined when the text could not be parsed. */
  value: unknown;
  /** Locations keyed by dotted path ('' is the document). */
  locations: Map<string, NodeLocation>;
  issues: ConfigIssue[];
}

/** Joins path segments the way ConfigIssue.path is written. */
export function joinPath(path: readonly (string | number)[]): string {
  return path.join('.');
}

/** The key written at `offset` (the yaml package marks only its first character). */
function keyAt(text: string, offset: number): string {
  const m = /^("[^"\n]*"|'[^'\n]*'|[^:#\n]*?)\s*:/.exec(text.slice(offset, offset + 200));
  return m ? m[1]!.replace(/^["']|["']$/g, '') : text.slice(offset, offset + 20).split('\n')[0]!;
}

/**
 * Where `text` first nests deeper than MAX_DEPTH, found by one linear scan before parsing: flow
 * brackets outside quotes and comments count one level each, block indentation one level per
 * column (an over-estimate, so a document it lets through is never deeper than the limit).
 */
export function tooDeep(text: string): Position | undefined {
  let line = 1;
  let col = 0;
  let depth = 0;
  let quote = '';
  let comment = false;
  let lineStart = true;
  let indent = 0;
  // A quote opens a quoted scalar only where a scalar starts; inside a plain one (it's) it is text.
  let scalarStart = true;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    col++;
    if (ch === '\n') {
      line++;
      col = 0;
      comment = false;
      lineStart = true;
      scalarStart = true;
      indent = 0;
      continue;
    }
    if (lineStart) {
      if (ch === ' ') {
        if (++indent > MAX_DEPTH * 4) return { line, col };
        continue;
      }
      lineStart = false;
    }
    if (comment) continue;
    if (quote) {
      if (quote === '"' && ch === '\\' && text[i + 1] !== '\n') {
        i++; // the escaped character cannot close the string
        col++;
      } else if (ch === quote) quote = '';
      continue;
    }
    if (ch === ' ' || ch === '\t') continue;
    if (ch === '#' && (i === 0 || /\s/.test(text[i - 1]!))) comment = true;
    else if ((ch === '"' || ch === "'") && scalarStart) quote = ch;
    else if (ch === '[' || ch === '{') {
      if (++depth > MAX_DEPTH) return { line, col };
    } else if (ch === ']' || ch === '}') depth = Math.max(0, depth - 1);
    scalarStart = ch === ':' || ch === '-' || ch === '[' || ch === '{' || ch === ',' || ch === '?';
  }
  return undefined;
}

/** Parses YAML `text` (from `file`, used in issues). Never throws: problems become issues. */
export function parseYamlText(text: string, file: string): ParsedYaml {
  const locations = new Map<string, NodeLocation>();
  const issues: ConfigIssue[] = [];
  const at = (pos: Position, path: string, message: string): void => {
    issues.push({ file, line: pos.line, col: pos.col, path, message });
  };
  if (Buffer.byteLength(text, 'utf8') > MAX_FILE_BYTES) {
    at({ line: 0, col: 0 }, '', `file is larger than ${MAX_FILE_BYTES} bytes; an experiment file is a few KB, check that this is the right file`);
    return { file, value: undefined, locations, issues };
  }
  const deep = tooDeep(text);
  if (deep) {
    at(deep, '', `nesting deeper than ${MAX_DEPTH} levels; an experiment file nests a few levels, check that this is the right file`);
    return { file, value: undefined, locations, issues };
  }
  const lc = new LineCounter();
  const pos = (offset: number): Position => lc.linePos(offset);
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  for (const e of doc.errors) {
    const p = pos(e.pos[0]);
    const message =
      e.code === 'DUPLICATE_KEY'
        ? `duplicate key '${keyAt(text, e.pos[0])}': each key may appear once per mapping; remove or rename one of them`
        : e.code === 'MULTIPLE_DOCS'
          ? "the file holds several YAML documents (separated by '---'); an experiment file is one document"
          : `YAML syntax error: ${e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`;
    at(p, '', message);
  }
  if (doc.errors.length > 0) return { file, value: undefined, locations, issues };

  let firstAlias: Position | undefined;
  visit(doc, {
    Pair(_, pair) {
      // A list or mapping as a key ('? [a, b]') has no name to validate or to point at.
      if (pair.key !== null && !isScalar(pair.key)) {
        const k = pair.key as Node;
        at(pos(k.range?.[0] ?? 0), '', 'keys must be plain names, not lists or mappings; write key: value');
        return visit.SKIP;
      }
      return undefined;
    },
    Node(_, node) {
      if (isAlias(node)) {
        firstAlias ??= pos(node.range?.[0] ?? 0);
        return;
      }
      const tag = (node as { tag?: string }).tag;
      if (tag !== undefined && !CORE_TAGS.has(tag)) {
        at(pos(node.range?.[0] ?? 0), '', `custom tag '${tag.replace('tag:yaml.org,2002:', '!!')}' is not allowed: an experiment file is plain data and nothing in it runs as code; remove the tag`);
      }
    },
  });
  if (issues.length > 0) return { file, value: undefined, locations, issues };

  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    at(firstAlias ?? { line: 1, col: 1 }, '', `aliases expand too much (${why}); write the values out instead of nesting aliases`);
    return { file, value: undefined, locations, issues };
  }

  const walk = (node: unknown, path: (string | number)[], keyPos: Position | undefined): void => {
    if (!node || typeof node !== 'object') return;
    const n = node as Node;
    const valuePos = n.range ? pos(n.range[0]) : (keyPos ?? { line: 1, col: 1 });
    const collection = isMap(n) || isSeq(n);
    locations.set(joinPath(path), keyPos ? { key: keyPos, value: valuePos, collection } : { value: valuePos, collection });
    // Aliases are not followed: an error inside one points at the alias, and walking could
    // revisit a shared subtree many times.
    if (isMap(n)) {
      for (const item of n.items) {
        if (!isPair(item)) continue;
        const k = item.key;
        const name = isScalar(k) ? String(k.value) : String(k);
        const kp = isScalar(k) && k.range ? pos(k.range[0]) : valuePos;
        if (item.value) walk(item.value, [...path, name], kp);
        else locations.set(joinPath([...path, name]), { key: kp, value: kp, collection: false });
      }
    } else if (isSeq(n)) {
      n.items.forEach((item, i) => walk(item, [...path, i], undefined));
    }
  };
  walk(doc.contents, [], undefined);
  return { file, value, locations, issues };
}

/** Reads and parses a YAML file; an unreadable or oversized file becomes an issue, not an exception. */
export async function readYamlFile(file: string): Promise<ParsedYaml> {
  const fail = (message: string): ParsedYaml => ({
    file,
    value: undefined,
    locations: new Map(),
    issues: [{ file, line: 0, col: 0, path: '', message }],
  });
  try {
    // Checked before reading so that a huge file is never loaded into memory.
    const info = await stat(file);
    if (!info.isFile()) return fail(`'${file}' is not a file; give the path of an experiment .yaml file`);
    if (info.size > MAX_FILE_BYTES) {
      return fail(`file is ${info.size} bytes, over the ${MAX_FILE_BYTES}-byte limit; an experiment file is a few KB, check that this is the right file`);
    }
    return parseYamlText(await readFile(file, 'utf8'), file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return fail(`file '${file}' does not exist; check the path`);
    return fail(`cannot read '${file}': ${e instanceof Error ? e.message : String(e)}`);
  }
}
