/**
 * Finds and reads the run `kdq diff` was pointed at: a run folder, a metrics.json file, an
 * experiment's folder (its `latest`), an experiment name meaning `<runs-dir>/<name>/latest`, or a
 * run id (`<runs-dir>/<any name>/<id>`).
 */
import { readdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { tooDeep } from '../config/yaml-source.ts';
import { KdqError } from '../errors.ts';
import { RUN_ID_RE } from '../pipeline/run-folder.ts';
import { readInputFile } from '../util/read-input-file.ts';
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
  const hint = `pass a run folder (runs/NAME/RUN-ID), its metrics.json, a run id as 'kdq runs' lists it, or the name of an experiment that has run (meaning ${join(runsDir, 'NAME', 'latest')})`;
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
    // A run id, as `kdq runs` lists it: the run folder of that id in whichever experiment has it.
    if (RUN_ID_RE.test(arg)) {
      for (const name of (await readdir(runsDir).catch(() => [] as string[])).sort()) {
        const file = join(runsDir, name, arg, METRICS);
        if (!name.startsWith('.') && (await kind(file)) === 'file') return file;
      }
    }
    throw new KdqError('E_USAGE', `'${arg}' is neither a path nor an experiment with a run: ${latest} does not exist; ${hint}`);
  }
  throw new KdqError('E_USAGE', `'${arg}' does not exist; ${hint}`);
}

/**
 * Bounds on what `kdq diff` reads: kdq's own metrics.json is a few KB nested about 8 deep; a file
 * far beyond these is not a kdq run's, and would exhaust the stack or memory of the comparison.
 */
export const MAX_METRICS_BYTES = 8 * 1024 * 1024;
export const MAX_CONFIG_BYTES = 1024 * 1024;
export const MAX_JSON_DEPTH = 64;
export const MAX_METRIC_VALUES = 200_000;

/** Where JSON `text` first nests deeper than `max` (a linear scan outside strings), or -1. */
export function jsonTooDeep(text: string, max: number): number {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92)
        i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 91 || c === 123) {
      if (++depth > max) return i;
    } else if (c === 93 || c === 125) depth--;
  }
  return -1;
}

/** Counts the leaves of a parsed JSON value, stopping once past `max`. */
function leafCount(v: unknown, max: number): number {
  let n = 0;
  const stack = [v];
  while (stack.length > 0 && n <= max) {
    const x = stack.pop();
    if (x !== null && typeof x === 'object') {
      // One push per child: spreading a million children would overflow the call's arguments.
      for (const child of Array.isArray(x) ? x : Object.values(x)) stack.push(child);
    } else n++;
  }
  return n;
}

/** A metrics.json's text as its document; E_DATA naming `file` when it is not a kdq metrics object or is beyond the bounds. */
export function parseMetricsText(text: string, file: string): object {
  const deep = jsonTooDeep(text, MAX_JSON_DEPTH);
  if (deep >= 0)
    throw new KdqError(
      'E_DATA',
      `${file} nests deeper than ${MAX_JSON_DEPTH} levels (at byte ${deep}); a kdq metrics.json nests about 8: pass a kdq run's metrics.json`,
    );
  let metrics: unknown;
  try {
    metrics = JSON.parse(text);
  } catch (e) {
    throw new KdqError('E_DATA', `${file} is not readable JSON (${(e as Error).message}); rerun the experiment to rewrite it`);
  }
  if (leafCount(metrics, MAX_METRIC_VALUES) > MAX_METRIC_VALUES) {
    throw new KdqError('E_DATA', `${file} holds more than ${MAX_METRIC_VALUES} values; a kdq metrics.json holds a few hundred: pass a kdq run's metrics.json`);
  }
  if (metrics === null || typeof metrics !== 'object' || Array.isArray(metrics)) {
    throw new KdqError(
      'E_DATA',
      `${file} holds ${Array.isArray(metrics) ? 'an array' : JSON.stringify(metrics)}, not a metrics object; pass a kdq run's metrics.json`,
    );
  }
  return metrics;
}

/** A config.yaml's text as its document; E_DATA naming `file` when it is not readable YAML. */
export function parseConfigText(yaml: string, file: string): unknown {
  try {
    const at = tooDeep(yaml);
    if (at) throw new Error(`it nests too deep at line ${at.line}`);
    return parseYaml(yaml, { maxAliasCount: 100 });
  } catch (e) {
    throw new KdqError('E_DATA', `${file} is not readable YAML (${(e as Error).message.split('\n')[0]}); rerun the experiment to rewrite it`);
  }
}

/** Reads a run's metrics.json and, when beside it, its config.yaml. */
export async function readRun(arg: string, runsDir: string): Promise<RunData & { metricsFile: string }> {
  const metricsFile = await resolveMetricsFile(arg, runsDir);
  const text = new TextDecoder().decode(await readInputFile(metricsFile, { maxBytes: MAX_METRICS_BYTES, expected: "a kdq run's metrics.json" }));
  const metrics = parseMetricsText(text, metricsFile);
  const configFile = join(dirname(metricsFile), CONFIG);
  let config: unknown;
  if ((await kind(configFile)) === 'file') {
    let yaml: string;
    try {
      yaml = new TextDecoder().decode(await readInputFile(configFile, { maxBytes: MAX_CONFIG_BYTES, expected: "a kdq run's config.yaml" }));
    } catch (e) {
      throw new KdqError('E_DATA', `${configFile} is not readable YAML (${(e as Error).message.split('\n')[0]}); rerun the experiment to rewrite it`);
    }
    config = parseConfigText(yaml, configFile);
  }
  return { label: arg, metrics, config, metricsFile };
}
