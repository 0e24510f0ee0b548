/**
 * kdq's operations as functions, used by the CLI and the tests: each composes the modules that do
 * the work. They throw KdqError; they never print except through the `log` callback they are given.
 */
import type { Writable } from 'node:stream';
import type { BackendName } from './names.ts';
import { KdqError } from './errors.ts';
import { formatGraph } from './pipeline/format.ts';
import { beginRun } from './pipeline/unfinished-runs.ts';
import { ensureWritableDir } from './util/atomic.ts';
import { formatSummary } from './report/summary.ts';
import { fillCache } from './executor/fill-cache.ts';
import { planLoaded, runPlanned, walk, type ExecutorChoice, type RunOutcome, type WalkChoice } from './run-experiment.ts';
import { loadSweep, type Loaded } from './sweep/load.ts';
import type { SweepOutcome } from './sweep/run-sweep.ts';
import { dataCacheDirOf, openWorkspace, resolveCacheDir, resolveRunsDir, type Locations } from './workspace.ts';

export { resolveCacheDir, resolveRunsDir } from './workspace.ts';
export type { RunOutcome } from './run-experiment.ts';
export type { SweepOutcome } from './sweep/run-sweep.ts';

export interface CommonOptions extends Locations {
  set?: string[];
  backend?: BackendName;
}

export interface RunOptions extends CommonOptions, ExecutorChoice, WalkChoice {
  /** `key.path=v1,v2,...` sweep axes from the command line (see src/sweep/). */
  sweep?: string[];
  /** Progress and per-stage lines (stderr in the CLI). */
  log?: (line: string) => void;
  /** Where training progress bars go (default process.stderr). */
  progress?: Writable;
}

/** Reads an experiment file once (and its sweep); every network is checked against its data, probed, never decoded. */
export function load(file: string, opts: { set?: string[]; sweep?: string[]; runsDir?: string } = {}): Promise<Loaded> {
  return loadSweep(file, { set: opts.set, sweep: opts.sweep, dataCacheDir: dataCacheDirOf(opts) });
}

/** Loads and checks an experiment file (every sweep point too); returns how big its graph is and what its data is. */
export async function validate(file: string, opts: { set?: string[]; sweep?: string[]; runsDir?: string } = {}) {
  const { base, sweep } = await load(file, opts);
  const { graph } = planLoaded(base);
  const { describeProbe } = await import('./data/probe.ts');
  return {
    stages: Object.keys(graph.stages).length,
    seeds: base.experiment.evaluation.seeds.length,
    points: sweep?.points.length ?? 0,
    data: describeProbe(base.probe),
  };
}

function workspace(opts: RunOptions) {
  return openWorkspace({ ...opts, progress: opts.progress ?? process.stderr });
}

/** Runs one experiment; writes runs/<name>/<run-id>/ and points latest at it (not on a dry run). */
export async function run(file: string | Loaded, opts: RunOptions = {}): Promise<RunOutcome & { summary: string }> {
  const startedAt = new Date();
  const loaded = typeof file === 'string' ? await load(file, opts) : file;
  if (loaded.sweep) {
    throw new KdqError('E_USAGE', `${loaded.base.file} declares a sweep: run it with 'kdq run' (api.sweep), or drop the sweep: block to run one experiment`);
  }
  const ws = workspace(opts);
  const planned = planLoaded(loaded.base);
  if (!opts.dryRun) await ensureWritableDir(ws.runsDir); // a read-only runs folder is named before the cache is touched
  // Until its run folder is published, `kdq cache gc` keeps what this run computes (unfinished-runs.ts).
  const unfinished = opts.dryRun ? null : await beginRun(ws.cache, loaded.base.experiment.name);
  const computed = await fillCache(ws, [planned], opts);
  const r = await runPlanned(ws, planned, { ...opts, computed, startedAt });
  await unfinished?.finish();
  const summary = r.runDir && r.metrics ? formatSummary(r.metrics, r.runDir) : formatGraph(planned.graph, { explain: r.result });
  return { ...r, summary };
}

/** Runs every point of a sweep (the file's `sweep:` block and `--sweep` axes), each with its own run folder, and writes the summary. */
export async function sweep(file: string | Loaded, opts: RunOptions = {}): Promise<SweepOutcome> {
  const loaded = typeof file === 'string' ? await load(file, opts) : file;
  if (!loaded.sweep) throw new KdqError('E_USAGE', `${loaded.base.file} has no sweep: block; add one, or pass --sweep key.path=v1,v2,...`);
  const { runSweep } = await import('./sweep/run-sweep.ts');
  return runSweep(workspace(opts), loaded.sweep, opts);
}

/** `kdq graph`: the DAG as text or dot; with explain, each stage's cache status and why. */
export async function graph(file: string, opts: CommonOptions & { dot?: boolean; explain?: boolean }): Promise<string> {
  const planned = planLoaded((await load(file, opts)).base);
  const explain = opts.explain ? await walk(openWorkspace(opts), planned, { dryRun: true }) : undefined;
  return formatGraph(planned.graph, { dot: opts.dot, explain });
}

export interface DiffCommandOptions extends CommonOptions {
  all?: boolean;
  only?: string[];
  format?: 'text' | 'md' | 'json';
  failOn?: string[];
}

export interface DiffOutcome {
  output: string;
  /** Some `--fail-on` threshold was crossed: the CLI exits 1. */
  crossed: boolean;
  diff: import('./report/diff.ts').RunDiff;
}

/** `kdq diff A B`: what changed from run A (old) to run B (new), and whether a gate was crossed. */
export async function diff(a: string, b: string, opts: DiffCommandOptions = {}): Promise<DiffOutcome> {
  const { readRun } = await import('./report/read-run.ts');
  const { diffRuns } = await import('./report/diff.ts');
  const { formatDiffJson, formatDiffMd, formatDiffText } = await import('./report/diff-format.ts');
  const runsDir = resolveRunsDir(opts);
  const [oldRun, newRun] = await Promise.all([readRun(a, runsDir), readRun(b, runsDir)]);
  const d = diffRuns(oldRun, newRun, { all: opts.all, only: opts.only, failOn: opts.failOn });
  const format = { text: formatDiffText, md: formatDiffMd, json: formatDiffJson }[opts.format ?? 'text'];
  return { output: format(d), crossed: d.gates.some((g) => g.crossed), diff: d };
}

/** `kdq runs` and `kdq runs rm`: src/runs/ (reads run folders only; loads no tf.js). */
export interface RunsCommandOptions extends CommonOptions {
  sort?: string;
  where?: string[];
  format?: 'md' | 'json' | 'csv';
  dryRun?: boolean;
}
export const runs = async (selectors: string[], opts: RunsCommandOptions = {}) =>
  (await import('./runs/list.ts')).listRuns(selectors, { ...opts, runsDir: resolveRunsDir(opts) });
export const runsRm = async (selectors: string[], opts: RunsCommandOptions = {}) =>
  (await import('./runs/list.ts')).removeListedRuns(selectors, { ...opts, runsDir: resolveRunsDir(opts), cacheDir: resolveCacheDir(opts) });

/** `kdq inspect`: a human description of a .tflite file. */
export async function inspect(file: string): Promise<string> {
  const { readInputFile } = await import('./util/read-input-file.ts');
  // 2 GiB: the most a flatbuffer can address; checked before any byte is read.
  const bytes = await readInputFile(file, { maxBytes: 2 ** 31, expected: 'a .tflite file' });
  const { inspectTflite } = await import('./tflite/inspect.ts');
  return inspectTflite(bytes, file);
}

/** `kdq cache ls`, `gc` and `verify`: src/pipeline/cache-admin.ts. */
const cacheDirs = (opts: CommonOptions) => ({ cacheDir: resolveCacheDir(opts), runsDir: resolveRunsDir(opts) });
export const cacheLs = async (opts: CommonOptions) => (await import('./pipeline/cache-admin.ts')).cacheLs(cacheDirs(opts));
export const cacheLsExperiment = async (opts: CommonOptions & { experiment: string }) =>
  (await import('./pipeline/cache-admin.ts')).cacheLsExperiment({ ...cacheDirs(opts), experiment: opts.experiment });
export const cacheGc = async (opts: CommonOptions & { olderThanMs?: number }) =>
  (await import('./pipeline/cache-admin.ts')).cacheGc({ ...cacheDirs(opts), olderThanMs: opts.olderThanMs });
export const cacheVerify = async (opts: CommonOptions & { log?: (line: string) => void }) =>
  (await import('./pipeline/cache-admin.ts')).cacheVerify(cacheDirs(opts), (m) => opts.log?.(`warning: ${m}`));
