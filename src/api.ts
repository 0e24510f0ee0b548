/**
 * kdq's operations as functions, used by the CLI and the tests. They throw KdqError; they never
 * print except through the `log` callback they are given.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { stringify as yamlStringify } from 'yaml';
import type { Writable } from 'node:stream';
import type { BackendName, ExecutorName } from './names.ts';
import { loadExperiment } from './config/load.ts';
import { planExperiment } from './pipeline/plan.ts';
import { Cache } from './pipeline/cache.ts';
import { formatGraph } from './pipeline/format.ts';
import { runGraph, type RunResult, type StageEvent } from './pipeline/run.ts';
import { createRunFolder } from './pipeline/run-folder.ts';
import { readLatestStages, writeStages } from './pipeline/stages-file.ts';
import { KdqError } from './errors.ts';
import { ensureWritableDir } from './util/atomic.ts';
import type { Metrics } from './report/metrics.ts';
import { formatSummary } from './report/summary.ts';
import { readSweepBlock } from './sweep/expand.ts';
import { PipelineError } from './pipeline/pipeline-error.ts';
import type { TaskOutcome } from './executor/types.ts';
import { backendIdentity, stageEnv } from './backend/identity.ts';

export interface CommonOptions {
  set?: string[];
  cacheDir?: string;
  runsDir?: string;
  backend?: BackendName;
}

export interface RunOptions extends CommonOptions {
  /** `key.path=v1,v2,...` sweep axes from the command line (see src/sweep/). */
  sweep?: string[];
  /** Worker processes of the local executor; 1 (the default) walks the graph in this process only. */
  jobs?: number;
  /** `local` (worker processes on this machine) or `bullmq` (workers anywhere, through Redis). */
  executor?: ExecutorName;
  /** `redis://HOST:PORT` of the BullMQ executor. */
  redis?: string;
  /** Internal: this run is one point of a sweep, so the file's `sweep:` block is expected. */
  sweepPoint?: boolean;
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

/** Loads and checks an experiment file (every sweep point too); returns how big its graph is. */
export async function validate(file: string, opts: { set?: string[]; sweep?: string[] } = {}): Promise<{ stages: number; seeds: number; points: number }> {
  const { loadSweep } = await import('./sweep/load.ts');
  const { base, sweep } = await loadSweep(file, { set: opts.set, sweep: opts.sweep });
  const graph = planExperiment(base.experiment);
  return { stages: Object.keys(graph.stages).length, seeds: base.experiment.evaluation.seeds.length, points: sweep?.points.length ?? 0 };
}

/** True when the file (with `--set` applied) has a `sweep:` block. */
export async function declaresSweep(file: string, opts: { set?: string[] } = {}): Promise<boolean> {
  const loaded = await loadExperiment(file, { set: opts.set });
  return readSweepBlock(loaded.raw) !== null;
}

async function readPrevious(runsDir: string, name: string): Promise<RunResult | undefined> {
  return (await readLatestStages(runsDir, name)) ?? undefined;
}

async function setup(file: string, opts: RunOptions) {
  const loaded = await loadExperiment(file, { set: opts.set });
  if (!opts.sweepPoint && readSweepBlock(loaded.raw) !== null) {
    throw new KdqError('E_USAGE', `${file} declares a sweep: run it with 'kdq run' (api.sweep), or drop the sweep: block to run one experiment`);
  }
  const exp = loaded.experiment;
  const graph = planExperiment(exp);
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
  if (!opts.sweepPoint) await fillCache(file, [opts.set ?? []], opts);
  const s = await setup(file, opts);
  if (!opts.dryRun) {
    // A read-only or full runs folder fails now, not after the training it would have stored.
    await ensureWritableDir(s.runsDir);
    await ensureWritableDir(s.cache.dir);
  }
  const previous = await readPrevious(s.runsDir, s.exp.name);
  const memo = new Map<string, unknown>();
  const result = await runGraph(s.graph, s.defs, {
    cache: s.cache,
    env: stageEnv(s.backend),
    force: opts.force,
    forceStages: opts.forceStages,
    dryRun: opts.dryRun,
    previous,
    memo,
    onEvent: (e) => describe(e, s.log),
  });
  if (!opts.dryRun) await s.cache.cleanLocks();
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
    env: stageEnv(s.backend),
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

/** True when stages should be computed by an executor (worker processes or BullMQ) before the walk. */
function usesExecutor(opts: RunOptions): boolean {
  return opts.executor === 'bullmq' || (opts.jobs ?? 1) > 1;
}

/**
 * With `--jobs N > 1` or `--executor bullmq`: computes every cacheable stage the experiments
 * (one `--set` list each) would run, deduplicated by key, on the executor's workers. The walk
 * that follows then finds them cached and only assembles the report and the run folder. A stage
 * that failed on a worker runs again in the walk, which reports its error the usual way.
 */
export async function fillCache(file: string, sets: string[][], opts: RunOptions): Promise<Map<string, TaskOutcome>> {
  const outcomes = new Map<string, TaskOutcome>();
  if (!usesExecutor(opts) || opts.dryRun) return outcomes;
  if (opts.force || (opts.forceStages ?? []).length > 0) {
    throw new KdqError('E_USAGE', `--force and --force-stage run in this process only; drop --jobs/--executor, or run 'kdq cache gc' and rerun`);
  }
  if (opts.executor === 'bullmq' && !opts.redis) throw new KdqError('E_USAGE', '--executor bullmq needs --redis redis://HOST:PORT');
  const { buildTaskPlan } = await import('./executor/plan.ts');
  const planned = [];
  let cacheable: (kind: import('./names.ts').StageKind) => boolean = () => true;
  let backendName: BackendName = 'wasm';
  for (const set of sets) {
    const s = await setup(file, { ...opts, set, sweepPoint: true });
    cacheable = (kind) => s.defs[kind]?.cacheable === true;
    backendName = s.backend.name;
    try {
      const dry = await runGraph(s.graph, s.defs, { cache: s.cache, env: stageEnv(s.backend), dryRun: true });
      planned.push({ experiment: s.exp, baseDir: s.loaded.dir, graph: s.graph, dryRun: dry });
    } catch (e) {
      // A stage that cannot even be keyed (missing data) fails in the walk with the usual message.
      if (!(e instanceof PipelineError)) throw e;
    }
  }
  const plan = buildTaskPlan(planned, cacheable, backendName);
  if (plan.order.length === 0) return outcomes;
  const log = opts.log ?? (() => undefined);
  const cacheDir = resolveCacheDir(opts);
  let executor: import('./executor/types.ts').Executor;
  if (opts.executor === 'bullmq') {
    const { BullmqExecutor } = await import('./executor/bullmq.ts');
    executor = new BullmqExecutor({ redis: opts.redis!, cacheDir });
  } else {
    const { LocalExecutor } = await import('./executor/local.ts');
    executor = new LocalExecutor({ jobs: opts.jobs ?? 1, cacheDir, runsDir: resolveRunsDir(opts), log });
  }
  log(`${executor.name} executor: ${plan.order.length} stage(s) to compute${opts.executor === 'bullmq' ? ` through ${opts.redis}` : ` in ${Math.min(opts.jobs ?? 1, plan.order.length)} worker process(es)`}`);
  try {
    const results = await executor.execute(plan, {
      onEvent: (e) => {
        if (e.type === 'start') log(`${e.task.stageId}: sent to ${e.worker}`);
        else if (e.type === 'progress') log(e.message);
        else if (e.type === 'end') {
          const o = e.outcome;
          if (o.status === 'failed') log(`${o.stageId}: failed on ${o.worker ?? 'a worker'}: ${o.error ?? ''}; it runs again here to report the error`);
          else if (o.status === 'skipped') log(`${o.stageId}: skipped (${o.error ?? ''})`);
          else log(`${o.stageId}: ${o.status === 'ran' ? `ran in ${o.seconds.toFixed(1)} s` : 'cached'} on ${o.worker ?? 'a worker'}`);
        }
      },
    });
    for (const o of results) outcomes.set(o.key, o);
  } finally {
    await executor.close();
  }
  return outcomes;
}

export interface SweepOutcome {
  /** runs/<name>/sweeps/<id>/ with summary.md and summary.json. */
  dir: string;
  /** Every point ran. */
  ok: boolean;
  summary: import('./sweep/summary.ts').SweepSummary;
  /** summary.md's text. */
  text: string;
}

/**
 * Runs every point of a sweep (the file's `sweep:` block and `--sweep` axes) as a full experiment
 * with its own run folder; stages whose key is the same in several points (the teacher, the
 * baseline) are computed once. A point that fails is reported in the summary; the others still run.
 */
export async function sweep(file: string, opts: RunOptions = {}): Promise<SweepOutcome> {
  const { loadSweep } = await import('./sweep/load.ts');
  const { buildSweepSummary, formatSweepMarkdown, serializeSweepSummary } = await import('./sweep/summary.ts');
  const { base, sweep: loaded } = await loadSweep(file, { set: opts.set, sweep: opts.sweep });
  if (!loaded) throw new KdqError('E_USAGE', `${file} has no sweep: block; add one, or pass --sweep key.path=v1,v2,...`);
  if (opts.dryRun) throw new KdqError('E_USAGE', `--dry-run shows one experiment; pick a point with --set (e.g. --set ${Object.keys(loaded.points[0]!.point.params)[0]}=...) or run 'kdq graph --explain' on it`);
  const log = opts.log ?? (() => undefined);
  log(`sweep of ${base.experiment.name}: ${loaded.points.length} point(s)`);
  await fillCache(file, loaded.points.map((p) => p.set), opts);
  const points: import('./sweep/summary.ts').PointOutcome[] = [];
  for (const p of loaded.points) {
    log(`point ${p.point.id}: ${Object.entries(p.point.params).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ')}`);
    try {
      const r = await run(file, { ...opts, set: p.set, sweepPoint: true });
      points.push({ id: p.point.id, params: p.point.params, runDir: r.runDir, metrics: r.metrics });
    } catch (e) {
      if (!(e instanceof KdqError) || e.code === 'E_CONFIG' || e.code === 'E_USAGE') throw e;
      log(`point ${p.point.id} failed: ${e.message}`);
      points.push({ id: p.point.id, params: p.point.params, runDir: null, metrics: null, error: e.message });
    }
  }
  const { makeRunId } = await import('./pipeline/run-folder.ts');
  const { writeFileAtomic } = await import('./util/atomic.ts');
  const { mkdir } = await import('node:fs/promises');
  const id = makeRunId();
  const dir = join(resolveRunsDir(opts), base.experiment.name, 'sweeps', id);
  const keys = [...Object.keys(loaded.config.grid), ...Object.keys(loaded.config.zip)];
  const summary = buildSweepSummary(base.experiment.name, id, keys, points, loaded.config.rank);
  const text = formatSweepMarkdown(summary);
  try {
    await mkdir(dir, { recursive: true });
    await writeFileAtomic(join(dir, 'summary.json'), serializeSweepSummary(summary));
    await writeFileAtomic(join(dir, 'summary.md'), text);
  } catch (e) {
    throw new KdqError('E_IO', `cannot write the sweep summary in ${dir}: ${(e as Error).message}; check that the runs folder is writable`, { cause: e });
  }
  return { dir, ok: points.every((p) => p.error === undefined), summary, text };
}
