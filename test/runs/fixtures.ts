/**
 * Run folders as kdq writes them (metrics.json, config.yaml, stages.json with its facts), without
 * training: for the `kdq runs` tests and bench/runs-table.ts.
 */
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { serializeMetrics, type Metrics } from '../../src/report/metrics.ts';
import type { SweepPointRef } from '../../src/pipeline/stages-file.ts';
import { sampleMetrics } from '../report/fixtures.ts';

export interface FakeRun {
  name: string;
  /** Run id; its time is the start time. */
  id: string;
  temperature?: number;
  int8?: number;
  kdGain?: number;
  seconds?: number;
  sweep?: SweepPointRef;
  /** Stage keys its stages.json refers to. */
  keys?: string[];
}

/** The ISO time of a run id. */
export function idTime(id: string): string {
  return `${id.slice(0, 4)}-${id.slice(4, 6)}-${id.slice(6, 8)}T${id.slice(9, 11)}:${id.slice(11, 13)}:${id.slice(13, 15)}.000Z`;
}

/** Writes one run folder under `runsDir` and points its experiment's `latest` at it; returns its path. */
export async function writeFakeRun(runsDir: string, r: FakeRun): Promise<string> {
  const dir = join(runsDir, r.name, r.id);
  await mkdir(dir, { recursive: true });
  const m: Metrics = sampleMetrics({ int8: r.int8 ?? 0.965, experiment: r.name });
  if (r.kdGain !== undefined) m.kd_gain = r.kdGain;
  await writeFile(join(dir, 'metrics.json'), serializeMetrics(m));
  const config = {
    name: r.name,
    description: '',
    seed: 1,
    data: { source: 'mnist', trainLimit: 400, testLimit: 200 },
    student: { layers: [{ type: 'flatten' }, { type: 'dense', units: 10 }], training: { epochs: 2, batchSize: 32 } },
    distillation: { temperature: r.temperature ?? 4, hardWeight: 0.1, softWeight: 0.9 },
    quantization: { mode: 'int8' },
  };
  await writeFile(join(dir, 'config.yaml'), `# resolved from ../experiments/${r.name}.yaml (relative to the runs folder)\n${stringify(config)}`);
  const started = idTime(r.id);
  const seconds = r.seconds ?? 42;
  const stages = (r.keys ?? []).map((key, i) => ({ id: `stage${i}`, kind: 'train', key, details: {}, status: 'cached', seconds: 0.1, outDir: `.cache/${key.slice(0, 2)}/${key}`, reason: '' }));
  const facts = { startedAt: started, finishedAt: new Date(Date.parse(started) + seconds * 1000).toISOString(), ...(r.sweep ? { sweep: r.sweep } : {}) };
  await writeFile(join(dir, 'stages.json'), JSON.stringify({ format: 2, ...facts, ok: true, seconds, stages }, null, 2) + '\n');
  const latest = join(runsDir, r.name, 'latest');
  await rm(latest, { force: true });
  await symlink(r.id, latest);
  return dir;
}

const hex = (i: number) => i.toString(16).padStart(4, '0');

/**
 * Twenty runs of three experiments and one sweep, as `kdq runs` must list in under a second: 5
 * temperatures of kd-a, 6 of kd-b, 5 of kd-c, and a 4-point sweep of kd-a over temperature.
 */
export function twentyRuns(): FakeRun[] {
  const runs: FakeRun[] = [];
  let n = 0;
  const id = () => `20261201-${String(100000 + n * 100).slice(0, 6)}-${hex(n++)}`;
  for (const [name, count] of [['kd-a', 5], ['kd-b', 6], ['kd-c', 5]] as const) {
    for (let i = 0; i < count; i++) runs.push({ name, id: id(), temperature: 1 + i, int8: 0.95 + i * 0.003, kdGain: -0.01 + i * 0.005, seconds: 30 + i });
  }
  const sweepId = id();
  for (let p = 1; p <= 4; p++) {
    runs.push({ name: `kd-a-p${p}`, id: id(), temperature: p * 2, int8: 0.96 + p * 0.001, kdGain: p * 0.002, seconds: 20, sweep: { id: sweepId, point: `p${p}`, params: { 'distillation.temperature': p * 2 } } });
  }
  return runs;
}
