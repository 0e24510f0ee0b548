/**
 * Runs every point of a sweep as a full experiment with its own run folder; stages whose key is the
 * same in several points (the teacher, the baseline) are computed once. A point that fails is
 * reported in the summary; the others still run.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { relativeToRuns } from '../pipeline/stages-file.ts';
import { KdqError } from '../errors.ts';
import { fillCache } from '../executor/fill-cache.ts';
import { makeRunId } from '../pipeline/run-folder.ts';
import { beginRun } from '../pipeline/unfinished-runs.ts';
import { planLoaded, runPlanned, type ExecutorChoice, type WalkChoice } from '../run-experiment.ts';
import { ensureWritableDir, writeFileAtomic } from '../util/atomic.ts';
import type { Workspace } from '../workspace.ts';
import type { LoadedSweep } from './load.ts';
import { formatSweepHtml } from './summary-html.ts';
import { buildSweepSummary, formatSweepMarkdown, serializeSweepSummary, type PointOutcome, type SweepSummary } from './summary.ts';

export interface SweepOutcome {
  /** runs/<name>/sweeps/<id>/ with summary.md, summary.json and summary.html. */
  dir: string;
  /** Every point ran. */
  ok: boolean;
  summary: SweepSummary;
  /** summary.md's text. */
  text: string;
}

export async function runSweep(ws: Workspace, sweep: LoadedSweep, opts: ExecutorChoice & WalkChoice): Promise<SweepOutcome> {
  const name = sweep.base.experiment.name;
  if (opts.dryRun) {
    throw new KdqError(
      'E_USAGE',
      `--dry-run shows one experiment; pick a point with --set (e.g. --set ${Object.keys(sweep.points[0]!.point.params)[0]}=...) or run 'kdq graph --explain' on it`,
    );
  }
  // The sweep's id is its start time; every point's stages.json names it.
  const id = makeRunId();
  ws.log(`sweep of ${name}: ${sweep.points.length} point(s)`);
  const planned = sweep.points.map((p) => planLoaded(p.loaded));
  await ensureWritableDir(ws.runsDir); // a read-only runs folder is named before the cache is touched
  // Until every point is published, `kdq cache gc` keeps what the sweep computes (pipeline/unfinished-runs.ts).
  const unfinished = await beginRun(ws.cache, name);
  const filling = new Date();
  const computed = await fillCache(ws, planned, opts);
  // Workers that computed stages for every point at once started each point's work with the fill;
  // otherwise a point's work starts with its own walk.
  const filled = computed.size > 0;
  const points: PointOutcome[] = [];
  for (const [i, p] of sweep.points.entries()) {
    ws.log(
      `point ${p.point.id}: ${Object.entries(p.point.params)
        .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
        .join(', ')}`,
    );
    try {
      const r = await runPlanned(ws, planned[i]!, {
        ...opts,
        computed,
        startedAt: filled ? filling : new Date(),
        sweepPoint: { id, point: p.point.id, params: p.point.params },
      });
      points.push({ id: p.point.id, params: p.point.params, runDir: r.runDir && relativeToRuns(ws.runsDir, r.runDir), metrics: r.metrics });
    } catch (e) {
      if (!(e instanceof KdqError) || e.code === 'E_CONFIG' || e.code === 'E_USAGE') throw e;
      ws.log(`point ${p.point.id} failed: ${e.message}`);
      points.push({ id: p.point.id, params: p.point.params, runDir: null, metrics: null, error: e.message });
    }
  }
  const dir = join(ws.runsDir, name, 'sweeps', id);
  const keys = [...Object.keys(sweep.config.grid), ...Object.keys(sweep.config.zip)];
  const summary = buildSweepSummary(name, id, keys, points, sweep.config.rank);
  const text = formatSweepMarkdown(summary);
  try {
    await mkdir(dir, { recursive: true });
    await writeFileAtomic(join(dir, 'summary.json'), serializeSweepSummary(summary));
    await writeFileAtomic(join(dir, 'summary.md'), text);
    await writeFileAtomic(join(dir, 'summary.html'), formatSweepHtml(summary));
  } catch (e) {
    throw new KdqError('E_IO', `cannot write the sweep summary in ${dir}: ${(e as Error).message}; check that the runs folder is writable`, { cause: e });
  }
  const ok = points.every((p) => p.error === undefined);
  if (ok) await unfinished.finish();
  return { dir, ok, summary, text };
}
