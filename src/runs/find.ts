/**
 * Which run folders `kdq runs` and `kdq runs rm` mean: every run under the runs folder, or those
 * the user names. A name is an experiment (its runs, and the runs of its sweep points), a run id,
 * or a path: a run folder, an experiment's folder, or a runs folder (one copied elsewhere too).
 * A run folder is a folder holding metrics.json; `latest`, `sweeps/` and unfinished `.partial-`
 * folders are not runs.
 */
import { readdir, stat } from 'node:fs/promises';
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

async function isDir(p: string): Promise<boolean> {
  return (await stat(p).catch(() => null))?.isDirectory() ?? false;
}

async function isRunFolder(p: string): Promise<boolean> {
  return (await stat(join(p, METRICS)).catch(() => null))?.isFile() ?? false;
}

async function subfolders(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  // A symlinked folder counts (a runs folder may link experiments in); `latest` is excluded by name.
  const names = entries.filter((e) => !e.name.startsWith('.') && !NOT_RUNS.has(e.name) && (e.isDirectory() || e.isSymbolicLink())).map((e) => e.name);
  return names.sort();
}

/** The run folders directly inside an experiment's folder. */
async function runsOfExperiment(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of await subfolders(dir)) if (await isRunFolder(join(dir, name))) out.push(join(dir, name));
  return out;
}

/** The run folders of every experiment folder in a runs folder. */
async function runsOfRunsFolder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of await subfolders(dir)) out.push(...(await runsOfExperiment(join(dir, name))));
  return out;
}

/** The run folders `path` holds: itself, its runs (an experiment's folder), or its experiments' runs. */
async function runsAt(path: string): Promise<string[]> {
  if (await isRunFolder(path)) return [path];
  const direct = await runsOfExperiment(path);
  return direct.length > 0 ? direct : runsOfRunsFolder(path);
}

/** Runs of the points of NAME's sweeps: the experiments `NAME-p<N>`. */
async function sweepPointRuns(runsDir: string, name: string): Promise<FoundRun[]> {
  const re = new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-p\\d+$`);
  const out: FoundRun[] = [];
  for (const exp of (await subfolders(runsDir)).filter((n) => re.test(n))) {
    for (const dir of await runsOfExperiment(join(runsDir, exp))) out.push({ dir, sweepOf: name });
  }
  return out;
}

async function resolveSelector(runsDir: string, sel: string): Promise<FoundRun[]> {
  if (RUN_ID_RE.test(sel) && !(await isDir(sel))) {
    const hits = (await runsOfRunsFolder(runsDir)).filter((d) => d.endsWith(`/${sel}`) || d.endsWith(`\\${sel}`));
    if (hits.length > 0) return hits.map((dir) => ({ dir }));
  }
  const isName = !sel.includes('/') && !sel.includes('\\');
  for (const path of [sel, join(runsDir, sel)]) {
    if (!(await isDir(path))) continue;
    const runs = (await runsAt(path)).map((dir) => ({ dir }));
    const points = isName && resolve(path) === resolve(runsDir, sel) ? await sweepPointRuns(runsDir, sel) : [];
    if (runs.length + points.length > 0) return [...runs, ...points];
    throw new KdqError('E_USAGE', `'${sel}' (${resolve(path)}) holds no run folder (a folder with ${METRICS}); name a run folder, an experiment's folder or a runs folder`);
  }
  if (isName) {
    const points = await sweepPointRuns(runsDir, sel);
    if (points.length > 0) return points;
  }
  const experiments = await subfolders(runsDir);
  const hint = suggest(sel, experiments);
  throw new KdqError(
    'E_USAGE',
    `'${sel}' is not a run folder, an experiment with runs under ${runsDir}, or a run id${hint ? `; did you mean '${hint}'?` : ''}${experiments.length > 0 ? ` (experiments there: ${experiments.slice(0, 12).join(', ')}${experiments.length > 12 ? ', ...' : ''})` : ''}`,
  );
}

/** The run folders the selectors name (every run under `runsDir` when there are none), each once, in the order named. */
export async function findRuns(runsDir: string, selectors: readonly string[]): Promise<FoundRun[]> {
  const found = selectors.length === 0 ? (await runsOfRunsFolder(runsDir)).map((dir) => ({ dir })) : (await Promise.all(selectors.map((s) => resolveSelector(runsDir, s)))).flat();
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
