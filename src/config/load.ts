/**
 * Loads an experiment file: YAML with positions, `extends` chain, `--set` overrides, schema,
 * defaults, semantic checks. Every problem found is collected and thrown at once as a
 * ConfigError whose issues point at the file, line and column where the bad value was written.
 */
import path from 'node:path';
import { ConfigError, type ConfigIssue } from '../errors.ts';
import type { Experiment } from './types.ts';
import { resolveDefaults } from './defaults.ts';
import { deepMerge, isPlainObject } from './merge.ts';
import { translateAjvError, type PathIssue } from './messages.ts';
import { applySet, parseSetArg } from './overrides.ts';
import { checkLoadedData, type DataCheckOptions } from './data-fit.ts';
import type { Probe } from '../data/probe.ts';
import { checkExperimentSchema } from './schema.ts';
import { checkSemantics, dataPathKeys } from './semantic.ts';
import { completeImportedTeacher, isImportedTeacher } from './teacher-model.ts';
import { SourceMap, overrideLayer, yamlLayer, type SourceLayer } from './source-map.ts';
import { readYamlFile, type ParsedYaml } from './yaml-source.ts';
import { whyNotRegularFile } from '../util/read-input-file.ts';

export interface LoadedExperiment {
  experiment: Experiment;
  /** Absolute path of the experiment file. */
  file: string;
  /** Its folder: relative paths in the experiment (data files) are resolved from here. */
  dir: string;
  /** Absolute paths of the file and every file it extends, the file first. */
  sources: string[];
  /** The merged document with overrides applied, before defaults. */
  raw: unknown;
  /** Where a key path was written (file, line, column), for messages about it. */
  locate(path: readonly (string | number)[], prefer?: 'key' | 'value'): { file: string; line: number; col: number };
  /** What probing the data found, once the networks were checked against it (loadExperiment, loadSweep). */
  probe?: Probe;
}

export interface LoadOptions extends DataCheckOptions {
  /** `key.path=value` overrides, applied in order after `extends`. */
  set?: string[];
}

/** How a path appears in messages: relative to the working folder when inside it. */
function display(abs: string): string {
  const rel = path.relative(process.cwd(), abs);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : abs;
}

export interface ChainEntry {
  abs: string;
  parsed: ParsedYaml;
  doc: Record<string, unknown>;
}

/** Reads `abs` and every base it extends (child first), collecting issues instead of throwing. */
async function readChain(abs: string, issues: ConfigIssue[]): Promise<ChainEntry[]> {
  const chain: ChainEntry[] = [];
  let current = abs;
  const seen: string[] = [];
  for (;;) {
    seen.push(current);
    const parsed = await readYamlFile(current);
    parsed.file = display(current);
    for (const i of parsed.issues) issues.push({ ...i, file: parsed.file });
    if (parsed.value === undefined || parsed.issues.length > 0) return chain;
    if (!isPlainObject(parsed.value)) {
      const what = parsed.value === null ? 'empty' : `a ${Array.isArray(parsed.value) ? 'list' : typeof parsed.value}`;
      const start = parsed.locations.get('')?.value ?? { line: 1, col: 1 };
      issues.push({
        file: parsed.file,
        line: start.line,
        col: start.col,
        path: '',
        message: `the document is ${what}; an experiment file is a mapping of keys, starting with name: ...`,
      });
      return chain;
    }
    const doc = parsed.value;
    chain.push({ abs: current, parsed, doc });
    const ext = doc.extends;
    if (ext === undefined) return chain;
    const loc = parsed.locations.get('extends')?.value ?? { line: 0, col: 0 };
    const at = (message: string): void => {
      issues.push({ file: parsed.file, line: loc.line, col: loc.col, path: 'extends', message });
    };
    if (typeof ext !== 'string' || ext === '') {
      at(`must be the path of a base experiment file, got ${JSON.stringify(ext)}`);
      return chain;
    }
    const base = path.resolve(path.dirname(current), ext);
    if (seen.includes(base)) {
      const cycle = [...seen.slice(seen.indexOf(base)), base].map(display).join(' -> ');
      at(`extends cycle: ${cycle}; remove one of these extends`);
      return chain;
    }
    const why = whyNotRegularFile(base);
    if (why !== null) {
      at(`base file '${ext}' ${why} (looked for ${base}); extends names an experiment .yaml file, relative to the file that says extends`);
      return chain;
    }
    current = base;
  }
}

/** An experiment file and every file it extends, read and parsed once; resolve it with `resolveExperiment`. */
export interface ExperimentSource {
  /** Absolute path of the file. */
  abs: string;
  /** The file, then each base it extends. */
  chain: ChainEntry[];
}

/** Reads and parses `file` and its `extends` chain. Throws ConfigError with every issue found. */
export async function readExperimentSource(file: string): Promise<ExperimentSource> {
  const abs = path.resolve(file);
  const issues: ConfigIssue[] = [];
  const chain = await readChain(abs, issues);
  if (issues.length > 0) throw new ConfigError(issues);
  return { abs, chain };
}

/**
 * Loads, validates and resolves an experiment file, and checks its networks against its data
 * (probed, not decoded). Throws ConfigError with every issue found; a bad data file, E_DATA.
 */
export async function loadExperiment(file: string, opts: LoadOptions = {}): Promise<LoadedExperiment> {
  const loaded = resolveExperiment(await readExperimentSource(file), opts);
  await checkLoadedData(loaded, opts);
  return loaded;
}

/**
 * Applies `--set` overrides, the schema, defaults and semantic checks to a source read before, so
 * a sweep resolves each of its points from one read of the file. Throws ConfigError. The checks
 * against the data are checkLoadedData's (async: the data is probed).
 */
export function resolveExperiment(source: ExperimentSource, opts: LoadOptions = {}): LoadedExperiment {
  const { abs, chain } = source;
  const issues: ConfigIssue[] = [];

  // Lowest priority first: the deepest base, then each child, then the overrides in order.
  const ordered = [...chain].reverse();
  const layers: SourceLayer[] = ordered.map((c) => yamlLayer(c.parsed.file, c.doc, c.parsed.locations));
  const absOf = new Map(ordered.map((c) => [c.parsed.file, c.abs]));
  let merged: Record<string, unknown> = {};
  for (const c of ordered) {
    const { extends: _ignored, ...rest } = c.doc;
    merged = deepMerge(merged, rest) as Record<string, unknown>;
  }
  // --set edits in place, and must never reach the parsed documents through shared lists.
  merged = structuredClone(merged);

  for (const arg of opts.set ?? []) {
    const label = `--set ${arg}`;
    const o = parseSetArg(arg);
    const error = 'error' in o ? o.error : applySet(merged, o);
    if ('error' in o || error !== undefined) {
      issues.push({ file: label, line: 0, col: 0, path: '', message: error! });
      continue;
    }
    layers.push(overrideLayer(label, o.path));
  }
  if (issues.length > 0) throw new ConfigError(issues);

  const map = new SourceMap(layers);
  const place = (p: PathIssue): ConfigIssue => ({ ...map.locate(p.path, p.prefer), path: p.path.join('.'), message: p.message });
  const schemaIssues = checkExperimentSchema(merged)
    .map(translateAjvError)
    .filter((p): p is PathIssue => p !== undefined)
    .map(place);
  if (schemaIssues.length > 0) throw new ConfigError(sortIssues(schemaIssues));

  const experiment = resolveDefaults(merged);
  const dir = path.dirname(abs);
  const resolveDataPath = (keyPath: string[], value: string): string => {
    const from = absOf.get(map.locate(['data', ...keyPath]).file) ?? abs;
    return path.resolve(path.dirname(from), value);
  };
  const resolveTeacherModel = (value: string): string => path.resolve(path.dirname(absOf.get(map.locate(['teacher', 'model']).file) ?? abs), value);
  const semantic = checkSemantics(experiment, { raw: merged, resolveDataPath, resolveTeacherModel }).map(place);
  if (semantic.length > 0) throw new ConfigError(sortIssues(semantic));
  if (isImportedTeacher(experiment.teacher)) completeImportedTeacher(experiment.teacher, resolveTeacherModel(experiment.teacher.model), dir);
  // Data paths written in a base file elsewhere are relative to that file; restate them
  // relative to this file so that downstream code resolves everything from `dir`.
  const data = experiment.data as unknown as Record<string, unknown>;
  const pathKeys = dataPathKeys(experiment.data.source);
  // fashion-mnist's dir is a path too (not checked here: its source says how to install the set).
  if (!pathKeys.some((k) => k.join('.') === 'dir')) pathKeys.push(['dir']);
  for (const keyPath of pathKeys) {
    const parent = keyPath.length === 2 ? (data[keyPath[0]] as Record<string, unknown> | undefined) : data;
    const key = keyPath[keyPath.length - 1];
    const written = parent?.[key];
    if (typeof written !== 'string') continue;
    const resolved = resolveDataPath(keyPath, written);
    if (path.resolve(dir, written) !== resolved) parent![key] = path.relative(dir, resolved);
  }
  const locate = (p: readonly (string | number)[], prefer: 'key' | 'value' = 'value') => {
    const l = map.locate(p, prefer);
    return { file: l.file, line: l.line, col: l.col };
  };
  return { experiment, file: abs, dir, sources: chain.map((c) => c.abs), raw: merged, locate };
}

/** Issues in reading order: by file, then line, then column; duplicates dropped. */
function sortIssues(issues: ConfigIssue[]): ConfigIssue[] {
  const seen = new Set<string>();
  return issues
    .filter((i) => {
      const k = `${i.file}\0${i.line}\0${i.col}\0${i.path}\0${i.message}`;
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    })
    .sort((a, b) => (a.file === b.file ? a.line - b.line || a.col - b.col : a.file < b.file ? -1 : 1));
}
