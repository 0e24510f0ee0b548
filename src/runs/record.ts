/**
 * One run folder as `kdq runs` sees it: its metrics.json and config.yaml (read with the bounds of
 * `kdq diff`), and from stages.json when it started, how long it took and which sweep point it is.
 * Nothing here depends on where the folder is, so a copied run folder reads the same.
 */
import { existsSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { KdqError } from '../errors.ts';
import { readStagesSync, type SweepPointRef } from '../pipeline/stages-file.ts';
import { runIdTime } from '../pipeline/run-folder.ts';
import type { Metrics } from '../report/metrics.ts';
import { MAX_CONFIG_BYTES, MAX_METRICS_BYTES, parseConfigText, parseMetricsText } from '../report/read-run.ts';
import { readInputFileSync } from '../util/read-input-file.ts';

export interface RunRecord {
  /** Absolute path of the run folder. */
  dir: string;
  /** The experiment's name (`kd-mnist-quick-p3` for a sweep point). */
  name: string;
  /** The run folder's name: its run id. */
  id: string;
  /** How to name the run to kdq: `<name>/<id>` relative to the runs folder, else the folder's path. */
  ref: string;
  /** The name, and for a sweep point its values: `kd-mnist-quick-p3 [temperature=5]`. */
  label: string;
  /** ISO start time: stages.json's, else the run id's time (when the folder was written). */
  startedAt?: string;
  /** Wall time in seconds, start to run folder; the walk's time for runs before stages.json recorded it. */
  seconds?: number;
  sweep?: SweepPointRef;
  metrics: Metrics;
  /** The parsed config.yaml; undefined when the folder has none. */
  config?: unknown;
}

/** Short names of a sweep's keys: the last segment, or more where two keys end alike. */
function shortKeys(keys: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const k of keys) {
    const segs = k.split('.');
    let n = 1;
    const tail = (key: string, m: number) => key.split('.').slice(-m).join('.');
    while (n < segs.length && keys.some((o) => o !== k && tail(o, n) === tail(k, n))) n++;
    out.set(k, tail(k, n));
  }
  return out;
}

export function pointLabel(name: string, sweep: SweepPointRef | undefined): string {
  if (!sweep) return name;
  const short = shortKeys(Object.keys(sweep.params));
  const values = Object.entries(sweep.params).map(([k, v]) => `${short.get(k)}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  return `${name} [${values.join(', ')}]`;
}

const decode = (b: Uint8Array) => new TextDecoder().decode(b);

/**
 * Reads the run folder `dir` (synchronously: a listing reads many small files, and on a busy
 * machine the thread-pool round trips of async reads cost more than the reads); throws KdqError
 * (E_DATA, E_USAGE) when its metrics.json or config.yaml cannot be read.
 */
export function readRecord(dir: string, runsDir: string): RunRecord {
  const metricsFile = join(dir, 'metrics.json');
  const metrics = parseMetricsText(decode(readInputFileSync(metricsFile, { maxBytes: MAX_METRICS_BYTES, expected: "a kdq run's metrics.json" })), metricsFile) as Metrics;
  const configFile = join(dir, 'config.yaml');
  let config: unknown;
  if (existsSync(configFile)) {
    let yaml: string;
    try {
      yaml = decode(readInputFileSync(configFile, { maxBytes: MAX_CONFIG_BYTES, expected: "a kdq run's config.yaml" }));
    } catch (e) {
      throw new KdqError('E_DATA', `${configFile} is not readable YAML (${(e as Error).message.split('\n')[0]}); rerun the experiment to rewrite it`);
    }
    config = parseConfigText(yaml, configFile);
  }
  const stages = readStagesSync(dir, runsDir);
  const id = basename(dir);
  const name = typeof metrics.experiment === 'string' ? metrics.experiment : basename(dirname(dir));
  const rel = relative(resolve(runsDir), dir);
  const ref = rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel.split(sep).join('/') : dir;
  const startedAt = stages?.startedAt ?? runIdTime(id)?.toISOString();
  const finished = stages?.finishedAt ? Date.parse(stages.finishedAt) : NaN;
  const wall = startedAt && Number.isFinite(finished) ? (finished - Date.parse(startedAt)) / 1000 : stages?.seconds;
  const seconds = wall === undefined ? undefined : Math.round(wall * 1000) / 1000;
  return {
    dir,
    name,
    id,
    ref,
    label: pointLabel(name, stages?.sweep),
    ...(startedAt !== undefined ? { startedAt } : {}),
    ...(seconds !== undefined ? { seconds } : {}),
    ...(stages?.sweep ? { sweep: stages.sweep } : {}),
    metrics,
    config,
  };
}
