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

/**
 * Where an unclosed quoted scalar or flow collection was opened, for the parser's "missing closing"
 * errors, which it reports where the text ends rather than where the mistake is. The same scan as
 * tooDeep: quotes open only where a scalar starts, comments and quoted text are skipped.
 */
export function unclosedAt(text: string): { what: string; at: Position } | undefined {
  let line = 1;
  let col = 0;
  let quote: { ch: string; at: Position } | undefined;
  let comment = false;
  let scalarStart = true;
  const open: { ch: string; at: Position }[] = [];
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    col++;
    if (ch === '\n') {
      line++;
      col = 0;
      comment = false;
      if (open.length === 0) scalarStart = true;
      continue;
    }
    if (comment) continue;
    if (quote) {
      if (quote.ch === '"' && ch === '\\') {
        i++;
        col++;
      } else if (ch === quote.ch) {
        if (quote.ch === "'" && text[i + 1] === "'") {
          i++; // '' is an escaped quote inside a single-quoted scalar
          col++;
        } else quote = undefined;
      }
      continue;
    }
    if (ch === ' ' || ch === '\t') continue;
    if (ch === '#' && (i === 0 || /\s/.test(text[i - 1]!))) comment = true;
    else if ((ch === '"' || ch === "'") && scalarStart) quote = { ch, at: { line, col } };
    else if (ch === '[' || ch === '{') open.push({ ch, at: { line, col } });
    else if (ch === ']' || ch === '}') open.pop();
    scalarStart = ch === ':' || ch === '-' || ch === '[' || ch === '{' || ch === ',' || ch === '?';
  }
  if (quote) return { what: `the ${quote.ch === '"' ? 'double' : 'single'} quote opened here is never closed`, at: quote.at };
  const last = open[open.length - 1];
  if (last)
    return {
      what: `the flow ${last.ch === '{' ? 'mapping' : 'list'} '${last.ch}' opened here is never closed with '${last.ch === '{' ? '}' : ']'}'`,
      at: last.at,
    };
  return undefined;
}

/** The dotted key path of a node from the ancestors `visit` passes (pairs' keys, list indices). */
function pathOf(ancestors: readonly unknown[], node: unknown): string {
  const parts: (string | number)[] = [];
  const chain = [...ancestors, node];
  for (let i = 0; i < chain.length - 1; i++) {
    const a = chain[i];
    const next = chain[i + 1];
    if (isPair(a) && isScalar(a.key) && a.value === next) parts.push(String(a.key.value));
    else if (isSeq(a)) parts.push(a.items.indexOf(next as never));
  }
  return joinPath(parts);
}

/** Paths of the keys a mapping holds twice, found by parsing again without the unique-keys check. */
function duplicateKeyPaths(text: string): Map<number, string> {
  const out = new Map<number, string>();
  const doc = parseDocument(text, { uniqueKeys: false, prettyErrors: false });
  visit(doc, {
    Map(_, map, ancestors) {
      const seen = new Set<string>();
      const base = pathOf(ancestors, map);
      for (const item of map.items) {
        if (!isScalar(item.key)) continue;
        const name = String(item.key.value);
        if (seen.has(name) && item.key.range) out.set(item.key.range[0], base ? `${base}.${name}` : name);
        seen.add(name);
      }
    },
  });
  return out;
}

/** The YAML versions a file may declare with a `%YAML` directive. */
const YAML_VERSIONS = ['1.1', '1.2'];

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
  const declared = /^%YAML[ \t]+(\S+)/m.exec(text);
  if (declared && !YAML_VERSIONS.includes(declared[1]!)) {
    at(
      { line: text.slice(0, declared.index).split('\n').length, col: 1 },
      '',
      `%YAML ${declared[1]} is not a YAML version kdq reads (${YAML_VERSIONS.join(' or ')}); remove the directive or write %YAML 1.2`,
    );
    return { file, value: undefined, locations, issues };
  }
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const duplicates = doc.errors.some((e) => e.code === 'DUPLICATE_KEY') ? duplicateKeyPaths(text) : new Map<number, string>();
  const unclosed = doc.errors.some((e) => e.code === 'MISSING_CHAR' || e.code === 'BAD_INDENT' || e.code === 'UNEXPECTED_TOKEN') ? unclosedAt(text) : undefined;
  let reportedUnclosed = false;
  for (const e of doc.errors) {
    if (e.code === 'DUPLICATE_KEY') {
      const key = keyAt(text, e.pos[0]);
      at(pos(e.pos[0]), duplicates.get(e.pos[0]) ?? key, `duplicate key '${key}': each key may appear once per mapping; remove or rename one of them`);
    } else if (e.code === 'MULTIPLE_DOCS') {
      at(pos(e.pos[0]), '', "the file holds several YAML documents (separated by '---'); an experiment file is one document");
    } else if (unclosed) {
      // The parser reports where the text ran out; the mistake is where the quote or bracket opened.
      if (!reportedUnclosed) at(unclosed.at, '', `YAML syntax error: ${unclosed.what}; close it or remove it`);
      reportedUnclosed = true;
    } else {
      at(pos(e.pos[0]), '', `YAML syntax error: ${e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`);
    }
  }
  if (doc.errors.length > 0) return { file, value: undefined, locations, issues };

  let firstAlias: Position | undefined;
  const anchors: { name: string; offset: number }[] = [];
  visit(doc, {
    Node(_, node) {
      const anchor = (node as { anchor?: string }).anchor;
      if (anchor !== undefined) anchors.push({ name: anchor, offset: (node as Node).range?.[0] ?? 0 });
    },
  });
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
    Node(_, node, ancestors) {
      if (isAlias(node)) {
        firstAlias ??= pos(node.range?.[0] ?? 0);
        const offset = node.range?.[0] ?? 0;
        if (!anchors.some((a) => a.name === node.source && a.offset < offset)) {
          at(
            pos(node.range?.[0] ?? 0),
            pathOf(ancestors, node),
            `alias '*${node.source}' refers to no anchor: define '&${node.source}' on a value before this line, or write the value out`,
          );
        }
        return;
      }
      const tag = (node as { tag?: string }).tag;
      if (tag !== undefined && !CORE_TAGS.has(tag)) {
        at(
          pos(node.range?.[0] ?? 0),
          pathOf(ancestors, node),
          `custom tag '${tag.replace('tag:yaml.org,2002:', '!!')}' is not allowed: an experiment file is plain data and nothing in it runs as code; remove the tag`,
        );
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

/** Thrown by decodeUtf8 for bytes that are not UTF-8, with where the first bad byte is. */
class NotUtf8 extends Error {
  constructor(
    readonly at: Position,
    readonly byte: number,
  ) {
    super('not UTF-8');
  }
}

/** Offset of the first byte of `bytes` that is not part of a well-formed UTF-8 sequence, or -1. */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length;) {
    const b = bytes[i]!;
    const n = b < 0x80 ? 0 : b >= 0xc2 && b <= 0xdf ? 1 : b >= 0xe0 && b <= 0xef ? 2 : b >= 0xf0 && b <= 0xf4 ? 3 : -1;
    if (n < 0) return i;
    for (let k = 1; k <= n; k++) if (i + k >= bytes.length || (bytes[i + k]! & 0xc0) !== 0x80) return i;
    // Overlong three/four-byte forms, surrogates and code points past U+10FFFF.
    const b1 = bytes[i + 1] ?? 0;
    if ((b === 0xe0 && b1 < 0xa0) || (b === 0xed && b1 >= 0xa0) || (b === 0xf0 && b1 < 0x90) || (b === 0xf4 && b1 >= 0x90)) return i;
    i += n + 1;
  }
  return -1;
}

/** The text of `bytes`, refusing what is not UTF-8 (decoding would silently turn it into U+FFFD). */
function decodeUtf8(bytes: Buffer): string {
  const bad = firstInvalidUtf8(bytes);
  if (bad === -1) return bytes.toString('utf8');
  const lines = bytes.subarray(0, bad).toString('utf8').split('\n');
  throw new NotUtf8({ line: lines.length, col: lines[lines.length - 1]!.length + 1 }, bytes[bad]!);
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
    return parseYamlText(decodeUtf8(await readFile(file)), file);
  } catch (e) {
    if (e instanceof NotUtf8) {
      const hex = e.byte.toString(16).toUpperCase().padStart(2, '0');
      return {
        ...fail(''),
        issues: [
          {
            file,
            line: e.at.line,
            col: e.at.col,
            path: '',
            message: `the file is not UTF-8: byte 0x${hex} here is not valid UTF-8 (a Latin-1 or Windows-1252 file?); save it as UTF-8`,
          },
        ],
      };
    }
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return fail(`file '${file}' does not exist; check the path`);
    return fail(`cannot read '${file}': ${e instanceof Error ? e.message : String(e)}`);
  }
}
