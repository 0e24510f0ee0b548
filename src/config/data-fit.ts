/**
 * The checks that need the data: every layer's shape against the real input shape, the last
 * layer against the real class count, and the data settings that depend on the number of
 * channels. The data is probed (headers, listings, label files; never a full decode), so
 * `kdq validate` and `kdq run` stop at the same line with the same message before any stage runs.
 */
import { ConfigError, type ConfigIssue } from '../errors.ts';
import { inferShapes } from '../models/shapes.ts';
import { layersOf } from './teacher-model.ts';
import { probeDataSource, type Probe } from '../data/probe.ts';
import { canonicalJson } from '../pipeline/hash.ts';
import type { PathIssue } from './messages.ts';
import type { Experiment } from './types.ts';

/** The most classes kdq evaluates: a .tflite file's top-1 predictions are stored as bytes. */
export const MAX_CLASSES = 256;

/** What the checks read of a loaded experiment (config/load.ts's LoadedExperiment, which has more). */
export interface LoadedForData {
  experiment: Experiment;
  /** Folder of the experiment file: data paths resolve against it. */
  dir: string;
  locate(path: readonly (string | number)[], prefer?: 'key' | 'value'): { file: string; line: number; col: number };
  probe?: Probe;
}

/** What the checks need to know about the data. */
export interface DataShape {
  /** [H, W, C] for images, [F] for table rows. */
  inputShape: readonly number[];
  numClasses: number;
}

/** The problems of `exp` on data of this shape, at the key paths to fix. */
export function dataFitIssues(exp: Experiment, data: DataShape): PathIssue[] {
  const issues: PathIssue[] = [];
  const add = (path: (string | number)[], message: string, prefer: 'key' | 'value' = 'value') => issues.push({ path, message, prefer });
  const shape = `[${data.inputShape.join(', ')}]`;
  if (data.numClasses > MAX_CLASSES) {
    add(
      ['data', 'source'],
      `the data has ${data.numClasses} classes; kdq evaluates at most ${MAX_CLASSES} (a .tflite file's predictions are stored one byte each)`,
    );
  }
  for (const role of ['teacher', 'student'] as const) {
    for (const s of inferShapes(layersOf(exp[role]), data.inputShape, data.numClasses).issues) {
      add([role, 'layers', s.index, s.key, ...(s.item === undefined ? [] : [s.item])], s.message);
    }
    if (exp[role].training.augment && data.inputShape.length !== 3) {
      add([role, 'training', 'augment'], `augmentation moves and mirrors pixels, but the data is table rows ${shape}; remove augment`, 'key');
    }
  }
  const channels = data.inputShape[data.inputShape.length - 1];
  const what = data.inputShape.length === 3 ? `${channels} channel${channels === 1 ? '' : 's'} (input ${shape})` : `${channels} features (input ${shape})`;
  for (const key of ['mean', 'std'] as const) {
    const v = exp.data[key];
    if (v && v.length !== 1 && v.length !== channels)
      add(['data', key], `lists ${v.length} values but the data has ${what}; give one value for all, or one per channel`);
  }
  return issues;
}

/**
 * Probes the data of a loaded experiment and throws ConfigError, placed in the file, when the
 * networks or settings do not fit it. Returns the probe (its note says what could not be checked).
 */
export async function checkDataFit(loaded: LoadedForData, probe: (exp: Experiment) => Promise<Probe>): Promise<Probe> {
  const exp = loaded.experiment;
  const p = await probe(exp);
  const shape: DataShape | null = p.kind === 'read' ? p.info : p.kind === 'known' ? p.known : null;
  if (shape === null) return p;
  const issues: ConfigIssue[] = dataFitIssues(exp, shape).map((i) => ({ ...loaded.locate(i.path, i.prefer), path: i.path.join('.'), message: i.message }));
  if (issues.length > 0) throw new ConfigError(issues.sort((a, b) => (a.file === b.file ? a.line - b.line || a.col - b.col : a.file < b.file ? -1 : 1)));
  return p;
}

export interface DataCheckOptions {
  /** kdq's data folder (`<runs>/.data`): the digest memo, and where downloads are found. */
  dataCacheDir?: string;
  /** Probes by data config and seed, shared by the points of a sweep. */
  memo?: Map<string, Promise<Probe>>;
}

/** Probes the experiment's data (once per data config in `memo`), checks the fit, and records the probe on `loaded`. */
export async function checkLoadedData(loaded: LoadedForData, opts: DataCheckOptions = {}): Promise<void> {
  const memo = opts.memo ?? new Map<string, Promise<Probe>>();
  loaded.probe = await checkDataFit(loaded, (exp) => {
    const id = canonicalJson({ data: exp.data, seed: exp.seed, dir: loaded.dir });
    let p = memo.get(id);
    if (!p) {
      p = probeDataSource(exp.data, { baseDir: loaded.dir, cacheDir: opts.dataCacheDir, splitSeed: exp.seed });
      memo.set(id, p);
    }
    return p;
  });
}
