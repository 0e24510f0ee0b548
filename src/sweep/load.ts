/**
 * Loads a sweep: the base experiment, its `sweep:` block merged with `--sweep` arguments, and every
 * point loaded as the base file plus `--set` overrides, so a point's values are validated exactly
 * like the file. Issues point at the sweep value that caused them (file, line, column).
 */
import { ConfigError, type ConfigIssue } from '../errors.ts';
import { checkLoadedData, type DataCheckOptions } from '../config/data-fit.ts';
import { readExperimentSource, resolveExperiment, type LoadedExperiment } from '../config/load.ts';
import { isPlainObject } from '../config/merge.ts';
import type { SweepConfig } from '../config/types.ts';
import { suggest } from '../util/suggest.ts';
import {
  checkSweepShape,
  expandSweep,
  mergeSweepArgs,
  parseSweepArg,
  pointName,
  pointSetArgs,
  readSweepBlock,
  type SweepArg,
  type SweepPoint,
} from './expand.ts';

export interface LoadedPoint {
  point: SweepPoint;
  /** Every `--set` the point is loaded with: the user's, the point's values, then its name. */
  set: string[];
  loaded: LoadedExperiment;
}

export interface LoadedSweep {
  base: LoadedExperiment;
  config: SweepConfig;
  points: LoadedPoint[];
}

export interface SweepLoadOptions extends DataCheckOptions {
  set?: string[];
  /** `key.path=v1,v2,...` axes from the command line. */
  sweep?: string[];
}

/** Why `path` does not address a value of the resolved experiment, or null when it does. */
function missingKey(root: unknown, path: string[]): string | null {
  let cur: unknown = root;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i]!;
    const where = path.slice(0, i).join('.') || 'the experiment';
    if (Array.isArray(cur)) {
      if (!/^\d+$/.test(seg) || Number(seg) >= cur.length)
        return `'${where}' is a list of ${cur.length} items: use an index from 0 to ${cur.length - 1}, not '${seg}'`;
      cur = cur[Number(seg)];
    } else if (isPlainObject(cur)) {
      if (!Object.prototype.hasOwnProperty.call(cur, seg)) {
        const hint = suggest(seg, Object.keys(cur));
        return `'${path.join('.')}' is not a key of this experiment: ${where} has no key '${seg}'${hint ? `; did you mean '${[...path.slice(0, i), hint].join('.')}'?` : `; its keys are ${Object.keys(cur).join(', ')}`}`;
      }
      cur = cur[seg];
    } else {
      return `'${where}' is ${JSON.stringify(cur)}, not a mapping or list, so it has no key '${seg}'`;
    }
  }
  return null;
}

/** An experiment file as loaded once for a command: its base experiment, and its sweep if it declares one. */
export interface Loaded {
  base: LoadedExperiment;
  /** Null when the file declares no sweep and no `--sweep` was given. */
  sweep: LoadedSweep | null;
}

/**
 * Reads the file once and resolves the base experiment and every sweep point from that one read,
 * so an edit to the file while a sweep runs changes nothing in it.
 */
export async function loadSweep(file: string, opts: SweepLoadOptions = {}): Promise<Loaded> {
  const source = await readExperimentSource(file);
  const base = resolveExperiment(source, { set: opts.set });
  // Every point is checked against its own data; points sharing a data config share one probe.
  const probes: DataCheckOptions = { dataCacheDir: opts.dataCacheDir, memo: opts.memo ?? new Map() };
  await checkLoadedData(base, probes);
  const issues: ConfigIssue[] = [];
  const args: SweepArg[] = [];
  /** Where each axis came from, to place issues about it. */
  const cliLabel = new Map<string, string>();
  for (const a of opts.sweep ?? []) {
    const parsed = parseSweepArg(a);
    if ('error' in parsed) issues.push({ file: `--sweep ${a}`, line: 0, col: 0, path: '', message: parsed.error });
    else {
      args.push(parsed);
      cliLabel.set(parsed.path, `--sweep ${a}`);
    }
  }
  if (issues.length > 0) throw new ConfigError(issues);
  const config = mergeSweepArgs(readSweepBlock(base.raw), args);
  if (config === null) return { base, sweep: null };

  const at = (keyPath: string, index?: number) => {
    const label = cliLabel.get(keyPath);
    if (label) return { file: label, line: 0, col: 0 };
    const p = keyPath in config.grid ? ['sweep', keyPath] : ['sweep', 'zip', keyPath];
    return base.locate(index === undefined ? p : [...p, index], index === undefined ? 'key' : 'value');
  };
  for (const [where, message] of checkSweepShape(config)) {
    const keyPath = where[where.length - 1];
    const loc = keyPath && keyPath !== 'zip' ? at(keyPath) : base.locate(['sweep', ...where], 'key');
    issues.push({ ...loc, path: ['sweep', ...where].join('.'), message });
  }
  for (const keyPath of [...Object.keys(config.grid), ...Object.keys(config.zip)]) {
    const why = missingKey(base.experiment, keyPath.split('.'));
    if (why) issues.push({ ...at(keyPath), path: `sweep.${keyPath}`, message: why });
  }
  if (issues.length > 0) throw new ConfigError(issues);

  const points: LoadedPoint[] = [];
  const seen = new Set<string>();
  for (const point of expandSweep(config)) {
    const pointArgs = pointSetArgs(point);
    const set = [...(opts.set ?? []), ...pointArgs, `name=${pointName(base.experiment.name, point)}`];
    try {
      const loaded = resolveExperiment(source, { set });
      await checkLoadedData(loaded, probes);
      points.push({ point, set, loaded });
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      for (const issue of e.issues) {
        const k = pointArgs.findIndex((a) => issue.file === `--set ${a}`);
        const keyPath = k === -1 ? null : Object.keys(point.params)[k]!;
        let placed: ConfigIssue;
        if (keyPath !== null) {
          const values = config.grid[keyPath] ?? config.zip[keyPath] ?? [];
          const index = values.findIndex((v) => JSON.stringify(v) === JSON.stringify(point.params[keyPath]));
          placed = { ...issue, ...at(keyPath, index), message: `sweep value ${JSON.stringify(point.params[keyPath])} of ${keyPath}: ${issue.message}` };
        } else if (issue.path === 'name' || issue.file.startsWith('--set name=')) {
          placed = {
            ...issue,
            message: `the point name '${pointName(base.experiment.name, point)}' (name of the experiment plus '-${point.id}'): ${issue.message}; shorten the name`,
          };
        } else {
          placed = { ...issue, message: `in sweep point ${point.id} (${pointArgs.join(', ')}): ${issue.message}` };
        }
        const id = `${placed.file}\0${placed.line}\0${placed.col}\0${placed.message}`;
        if (!seen.has(id)) {
          seen.add(id);
          issues.push(placed);
        }
      }
    }
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return { base, sweep: { base, config, points } };
}
