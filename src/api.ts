/**
 * kdq's operations as functions, used by the CLI and the tests. They throw KdqError; they never
 * print except through the `log` callback they are given.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { stringify as yamlStringify } from 'yaml';
import type { Writable } from 'node:stream';
import type { BackendName } from './names.ts';
import { loadExperiment } from './config/load.ts';
import { planExperiment } from './pipeline/plan.ts';
import { Cache } from './pipeline/cache.ts';
import { formatGraph } from './pipeline/format.ts';
import { runGraph, type RunResult, type StageEvent } from './pipeline/run.ts';
import { createRunFolder } from './pipeline/run-folder.ts';
import { readLatestStages, writeStages } from './pipeline/stages-file.ts';
import { KdqError } from './errors.ts';
import type { Metrics } from './report/metrics.ts';
import { formatSummary } from './report/summary.ts';

export interface CommonOptions {
  set?: string[];
  cacheDir?: string;
  runsDir?: string;
  backend?: BackendName;
}

export interface RunOptions extends CommonOptions {
  force?: boolean;
  forceStages?: string[];
  dryRun?: boolean;
  /** Progress and per-stage lines (stderr in the CLI). */
  log?: (line: string) => void;
  /** Where training progress bars go (default process.stderr). */
  progress?: Writable;
}

export function resolveRunsDir(opts: CommonOptions): string {
  return resolve(opts.runsDir ?? 'runs');
}

export function resolveCacheDir(opts: CommonOptions): string {
  return resolve(opts.cacheDir ?? process.env.KDQ_CACHE_DIR ?? join(resolveRunsDir(opts), '.cache'));
}

/** Loads and checks an experiment file; returns how big its graph is. */
export async function validate(file: string, opts: { set?: string[] } = {}): Promise<{ stages: number; seeds: number }> {
  const loaded = await loadExperiment(file, { set: opts.set });
  const graph = planExperiment(loaded.experiment);
  return { stages: Object.keys(graph.stages).length, seeds: loaded.experiment.evaluation.seeds.length };
}

async function readPrevious(runsDir: string, name: string): Promise<RunResult | undefined> {
  return (await readLatestStages(runsDir, name)) ?? undefined;
}

async function setup(file: string, opts: RunOptions) {
  const loaded = await loadExperiment(file, { set: opts.set });
  const exp = loaded.experiment;
  const graph = planExperiment(exp);
  const { backendIdentity } = await import('./backend/identity.ts');
  const backend = backendIdentity(opts.backend);
  const runsDir = resolveRunsDir(opts);
  const log = opts.log ?? (() => undefined);
  const cache = new Cache(resolveCacheDir(opts), { onWarn: (m) => log(`warning: ${m}`) });
  const { StageServices } = await import('./stages/context.ts');
  const { createStageDefinitions } = await import('./stages/index.ts');
  const services = new StageServices(
    { baseDir: loaded.dir, dataCacheDir: join(runsDir, '.data'), progress: (opts.progress ?? process.stderr) as Writable, backend },
    graph,
  );
  return { loaded, exp, graph, backend, runsDir, cache, defs: createStageDefinitions(services), log };
}

export interface RunOutcome {
  /** Null on a dry run. */
  runDir: string | null;
  metrics: Metrics | null;
  result: RunResult;
  summary: string;
}

function describe(e: StageEvent, log: (line: string) => void): void {
  if (e.type === 'start') log(`${e.id}: running (${e.reason})`);
  else if (e.type === 'wait') log(`${e.id}: waiting for another kdq process (pid ${e.holder?.pid ?? '?'}) computing the same stage`);
  else if (e.type === 'log') log(e.message);
  else if (e.type === 'end') {
    const r = e.result;
    if (r.status === 'cached') log(`${r.id}: cached`);
    else if (r.status === 'ran') log(`${r.id}: ran in ${r.seconds.toFixed(1)} s`);
    else if (r.status === 'failed') log(`${r.id}: failed: ${r.error ?? r.reason}`);
    else if (r.status === 'skipped') log(`${r.id}: skipped (${r.reason})`);
  }
}

/** Runs an experiment; writes runs/<name>/<run-id>/ and points latest at it (not on a dry run). */
export async function run(file: string, opts: RunOptions = {}): Promise<RunOutcome> {
  const s = await setup(file, opts);
  const previous = await readPrevious(s.runsDir, s.exp.name);
  const memo = new Map<string, unknown>();
  const result = await runGraph(s.graph, s.defs, {
    cache: s.cache,
    env: { backend: s.backend.name, tfjs: s.backend.tfjs },
    force: opts.force,
    forceStages: opts.forceStages,
    dryRun: opts.dryRun,
    previous,
    memo,
    onEvent: (e) => describe(e, s.log),
  });
  if (opts.dryRun) {
    return { runDir: null, metrics: null, result, summary: formatGraph(s.graph, { explain: result }) };
  }
  const metrics = memo.get('metrics') as Metrics;
  const folder = await createRunFolder(s.runsDir, s.exp.name);
  const byId = new Map(result.stages.map((r) => [r.id, r]));
  const firstSeed = s.exp.evaluation.seeds[0];
  const { TFLITE_NAMES, REPORT_FILES } = await import('./stages/report.ts');
  for (const stage of Object.values(s.graph.stages)) {
    if (stage.kind !== 'export' || !stage.role) continue;
    const dir = byId.get(stage.id)?.outDir;
    if (!dir) continue;
    const name = TFLITE_NAMES[stage.role] ?? `${stage.role}.tflite`;
    const rel = stage.seed === firstSeed ? name : join(`seed-${stage.seed}`, name);
    await folder.writeFile(rel, new Uint8Array(await readFile(join(dir, 'model.tflite'))));
  }
  const report = byId.get('report')?.outDir;
  if (report) {
    for (const name of REPORT_FILES) await folder.writeFile(name, new Uint8Array(await readFile(join(report, name))));
  }
  await folder.writeFile('config.yaml', `# resolved from ${s.loaded.file}\n${yamlStringify(s.exp)}`);
  await writeStages(folder, result);
  await folder.finish();
  return { runDir: folder.dir, metrics, result, summary: formatSummary(metrics, folder.dir) };
}

/** `kdq graph`: the DAG as text or dot; with explain, each stage's cache status and why. */
export async function graph(file: string, opts: CommonOptions & { dot?: boolean; explain?: boolean }): Promise<string> {
  if (!opts.explain) {
    const loaded = await loadExperiment(file, { set: opts.set });
    return formatGraph(planExperiment(loaded.experiment), { dot: opts.dot });
  }
  const s = await setup(file, opts);
  const result = await runGraph(s.graph, s.defs, {
    cache: s.cache,
    env: { backend: s.backend.name, tfjs: s.backend.tfjs },
    dryRun: true,
    previous: await readPrevious(s.runsDir, s.exp.name),
  });
  return formatGraph(s.graph, { dot: opts.dot, explain: result });
}

export interface DiffCommandOptions extends CommonOptions {
  all?: boolean;
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
  const { diffRuns, formatDiffJson, formatDiffMd, formatDiffText } = await import('./report/diff.ts');
  const runsDir = resolveRunsDir(opts);
  const [oldRun, newRun] = await Promise.all([readRun(a, runsDir), readRun(b, runsDir)]);
  const d = diffRuns(oldRun, newRun, { all: opts.all, failOn: opts.failOn });
  const format = { text: formatDiffText, md: formatDiffMd, json: formatDiffJson }[opts.format ?? 'text'];
  return { output: format(d), crossed: d.gates.some((g) => g.crossed), diff: d };
}

/** `kdq inspect`: a human description of a .tflite file. */
export async function inspect(file: string): Promise<string> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(file));
  } catch (e) {
    throw new KdqError('E_USAGE', `cannot read ${file}: ${(e as Error).message}`);
  }
  const { inspectTflite } = await import('./tflite/inspect.ts');
  return inspectTflite(bytes);
}

/** Keys referred to by any run folder's stages.json. */
async function referencedKeys(runsDir: string): Promise<Set<string>> {
  const keep = new Set<string>();
  const names = await readdir(runsDir).catch(() => [] as string[]);
  for (const name of names) {
    if (name.startsWith('.')) continue;
    const runs = await readdir(join(runsDir, name)).catch(() => [] as string[]);
    for (const id of runs) {
      if (id === 'latest') continue;
      try {
        const r = JSON.parse(await readFile(join(runsDir, name, id, 'stages.json'), 'utf8')) as RunResult;
        for (const st of r.stages) if (st.key) keep.add(st.key);
      } catch {
        // not a run folder
      }
    }
  }
  return keep;
}

export async function cacheLs(opts: CommonOptions): Promise<string> {
  const cache = new Cache(resolveCacheDir(opts));
  const entries = await cache.list();
  if (entries.length === 0) return `cache ${cache.dir} is empty`;
  const keep = await referencedKeys(resolveRunsDir(opts));
  const lines = entries.map((e) => {
    const meta = e.meta as { stage?: string };
    return `${e.key.slice(0, 12)}  ${String(e.bytes).padStart(10)} B  ${e.createdAt}  ${keep.has(e.key) ? 'used  ' : 'unused'}  ${meta.stage ?? ''}`;
  });
  const total = entries.reduce((a, e) => a + e.bytes, 0);
  return [...lines, `${entries.length} entries, ${total} bytes in ${cache.dir}`].join('\n');
}

export async function cacheGc(opts: CommonOptions & { olderThanMs?: number }): Promise<string> {
  const cache = new Cache(resolveCacheDir(opts));
  const keep = await referencedKeys(resolveRunsDir(opts));
  const r = await cache.gc({ keep, olderThanMs: opts.olderThanMs });
  return `removed ${r.removed.length} entries, freed ${r.freedBytes} bytes`;
}
