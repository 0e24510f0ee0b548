/**
 * Which run folders `kdq runs` and `kdq runs rm` mean: every run under the runs folder, or those
 * the user names. A name is an experiment (its runs, and the runs of its sweep points), a run id,
 * or a path: a run folder, an experiment's folder, or a runs folder (one copied elsewhere too).
 * A run folder is a folder holding metrics.json; `latest`, `sweeps/` and unfinished `.partial-`
 * folders are not runs.
 */
import { readdirSync, statSync, type Dirent } from 'node:fs';
import { join, resolve } from 'node:path';
import { KdqError } from '../errors.ts';
import { RUN_ID_RE } from '../pipeline/run-folder.ts';
import { suggest } from '../util/suggest.ts';

export interface FoundRun {
  /** Absolute path of the run folder. */
  dir: string;
  /** Set when the run was found as a point of this experiment's sweep: kept only if its stages.json says so. */
  sweepOf?: string;
}

const METRICS = 'metrics.json';
/** Folders inside an experiment's folder that are not runs. */
const NOT_RUNS = new Set(['latest', 'sweeps']);

// Synchronous: a listing stats every run folder, and thread-pool round trips cost more than the calls.
function isDir(p: string): boolean {
  return statSync(p, { throwIfNoEntry: false })?.isDirectory() ?? false;
}

function isRunFolder(p: string): boolean {
  return statSync(join(p, METRICS), { throwIfNoEntry: false })?.isFile() ?? false;
}

function subfolders(dir: string): string[] {
  let entries: Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  // A symlinked folder counts (a runs folder may link experiments in); `latest` is excluded by name.
  const names = entries.filter((e) => !e.name.startsWith('.') && !NOT_RUNS.has(e.name) && (e.isDirectory() || e.isSymbolicLink())).map((e) => e.name);
  return names.sort();
}

/** The run folders directly inside an experiment's folder. */
function runsOfExperiment(dir: string): string[] {
  return subfolders(dir)
    .map((name) => join(dir, name))
    .filter(isRunFolder);
}

/** The run folders of every experiment folder in a runs folder. */
function runsOfRunsFolder(dir: string): string[] {
  return subfolders(dir).flatMap((name) => runsOfExperiment(join(dir, name)));
}

/** The run folders `path` holds: itself, its runs (an experiment's folder), or its experiments' runs. */
function runsAt(path: string): string[] {
  if (isRunFolder(path)) return [path];
  const direct = runsOfExperiment(path);
  return direct.length > 0 ? direct : runsOfRunsFolder(path);
}

/** Runs of the points of NAME's sweeps: the experiments `NAME-p<N>`. */
function sweepPointRuns(runsDir: string, name: string): FoundRun[] {
  const re = new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-p\\d+$`);
  return subfolders(runsDir)
    .filter((n) => re.test(n))
    .flatMap((exp) => runsOfExperiment(join(runsDir, exp)).map((dir) => ({ dir, sweepOf: name })));
}

function resolveSelector(runsDir: string, sel: string): FoundRun[] {
  if (RUN_ID_RE.test(sel) && !(isDir(sel))) {
    const hits = (runsOfRunsFolder(runsDir)).filter((d) => d.endsWith(`/${sel}`) || d.endsWith(`\\${sel}`));
    if (hits.length > 0) return hits.map((dir) => ({ dir }));
  }
  const isName = !sel.includes('/') && !sel.includes('\\');
  for (const path of [sel, join(runsDir, sel)]) {
    if (!(isDir(path))) continue;
    const runs = (runsAt(path)).map((dir) => ({ dir }));
    const points = isName && resolve(path) === resolve(runsDir, sel) ? sweepPointRuns(runsDir, sel) : [];
    if (runs.length + points.length > 0) return [...runs, ...points];
    throw new KdqError('E_USAGE', `'${sel}' (${resolve(path)}) holds no run folder (a folder with ${METRICS}); name a run folder, an experiment's folder or a runs folder`);
  }
  if (isName) {
    const points = sweepPointRuns(runsDir, sel);
    if (points.length > 0) return points;
  }
  const experiments = subfolders(runsDir);
  const hint = suggest(sel, experiments);
  throw new KdqError(
    'E_USAGE',
    `'${sel}' is not a run folder, an experiment with runs under ${runsDir}, or a run id${hint ? `; did you mean '${hint}'?` : ''}${experiments.length > 0 ? ` (experiments there: ${experiments.slice(0, 12).join(', ')}${experiments.length > 12 ? ', ...' : ''})` : ''}`,
  );
}

/** The run folders the selectors name (every run under `runsDir` when there are none), each once, in the order named. */
export function findRuns(runsDir: string, selectors: readonly string[]): FoundRun[] {
  const found = selectors.length === 0 ? runsOfRunsFolder(runsDir).map((dir) => ({ dir })) : selectors.flatMap((s) => resolveSelector(runsDir, s));
  const seen = new Set<string>();
  const out: FoundRun[] = [];
  for (const f of found) {
    const dir = resolve(f.dir);
    if (seen.has(dir)) continue;
    seen.add(dir);
    out.push({ ...f, dir });
  }
  return out;
}
