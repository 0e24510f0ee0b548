/**
 * Finds and reads the run `kdq diff` was pointed at: a run folder, a metrics.json file, an
 * experiment's folder (its `latest`), or an experiment name meaning `<runs-dir>/<name>/latest`.
 */
import { readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { KdqError } from '../errors.ts';
import type { RunData } from './diff.ts';

const METRICS = 'metrics.json';
const CONFIG = 'config.yaml';

async function kind(path: string): Promise<'file' | 'dir' | null> {
  try {
    const s = await stat(path);
    return s.isDirectory() ? 'dir' : 'file';
  } catch {
    return null;
  }
}

/** The metrics.json `arg` stands for; throws E_USAGE saying what to pass instead. */
export async function resolveMetricsFile(arg: string, runsDir: string): Promise<string> {
  const hint = `pass a run folder (runs/NAME/RUN-ID), its metrics.json, or the name of an experiment that has run (meaning ${join(runsDir, 'NAME', 'latest')})`;
  const k = await kind(arg);
  if (k === 'file') return arg;
  if (k === 'dir') {
    if ((await kind(join(arg, METRICS))) === 'file') return join(arg, METRICS);
    // An experiment's folder: compare its latest run.
    if ((await kind(join(arg, 'latest', METRICS))) === 'file') return join(arg, 'latest', METRICS);
    throw new KdqError('E_USAGE', `'${arg}' is a folder without ${METRICS}, so not a run folder; ${hint}`);
  }
  if (!arg.includes('/') && !arg.includes('\\')) {
    const latest = join(runsDir, arg, 'latest', METRICS);
    if ((await kind(latest)) === 'file') return latest;
    throw new KdqError('E_USAGE', `'${arg}' is neither a path nor an experiment with a run: ${latest} does not exist; ${hint}`);
  }
  throw new KdqError('E_USAGE', `'${arg}' does not exist; ${hint}`);
}

/** Reads a run's metrics.json and, when beside it, its config.yaml. */
export async function readRun(arg: string, runsDir: string): Promise<RunData & { metricsFile: string }> {
  const metricsFile = await resolveMetricsFile(arg, runsDir);
  let metrics: unknown;
  try {
    metrics = JSON.parse(await readFile(metricsFile, 'utf8'));
  } catch (e) {
    throw new KdqError('E_DATA', `${metricsFile} is not readable JSON (${(e as Error).message}); rerun the experiment to rewrite it`);
  }
  if (metrics === null || typeof metrics !== 'object' || Array.isArray(metrics)) {
    throw new KdqError('E_DATA', `${metricsFile} holds ${Array.isArray(metrics) ? 'an array' : JSON.stringify(metrics)}, not a metrics object; pass a kdq run's metrics.json`);
  }
  const configFile = join(dirname(metricsFile), CONFIG);
  let config: unknown;
  if ((await kind(configFile)) === 'file') {
    try {
      config = parseYaml(await readFile(configFile, 'utf8'));
    } catch (e) {
      throw new KdqError('E_DATA', `${configFile} is not readable YAML (${(e as Error).message.split('\n')[0]}); rerun the experiment to rewrite it`);
    }
  }
  return { label: arg, metrics, config, metricsFile };
}
