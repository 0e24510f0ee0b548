/**
 * The dataset as training and evaluation see it: the configured source read by its format
 * reader, the configured subset kept (limits, validation hold-out), and the preprocessing that
 * turns stored values into model inputs. Examples stay in the element type of the source (uint8
 * images as bytes); `inputsOf` converts them a batch at a time.
 */
import type { DataConfig } from '../config/types.ts';
import { KdqError } from '../errors.ts';
import type { DataSource } from '../names.ts';
import { sha256Hex } from './file-digest.ts';
import type { DecodedCache } from './formats/folder.ts';
import { readData } from './formats/index.ts';
import type { DecodedData, ElementType, ExampleArray } from './formats/types.ts';
import { modelInputs, type ModelInputs } from './model-inputs.ts';
import { resolvePreprocessing, type Preprocessing } from './preprocess.ts';
import { SOURCES, type SourceContext } from './sources.ts';
import { applyLimit, gatherExamples, gatherLabels, splitIndices, SPLIT_SEED_LABEL } from './subset.ts';

export { sourceHashOf } from './idx-sources.ts';

/** Examples of one split as the run uses them. */
export interface Examples {
  /** Stored values, example after example (NHWC images, [N, F] rows), in the source's element type. */
  x: ExampleArray;
  /** Class index of each example. */
  y: Int32Array;
  count: number;
}

export interface Dataset {
  source: DataSource;
  /** Shape of one example: [H, W, C] for images, [F] for table rows. */
  inputShape: number[];
  dtype: ElementType;
  numClasses: number;
  /** Name of each class where the format has names (folder, CIFAR, CSV string labels), else null. */
  classNames: string[] | null;
  /** CSV: the feature columns in input order; else null. */
  featureNames: string[] | null;
  train: Examples;
  test: Examples;
  /** Held-out part of the training split (data.validationSplit > 0). */
  validation?: Examples;
  /** How stored values become model inputs; `normalize: auto` statistics come from `train`. */
  preprocessing: Preprocessing;
  /** sha256 of the data as used: the source's content hash, the limits and split (stable, hex). */
  sha256: string;
  /** `folder`: the decoded images as read (both splits, before limits), stored by the data stage as its cache entry. */
  decoded?: DecodedData;
}

/** Options of loadDataset. */
export interface LoadOptions {
  /** Folder of the experiment file: relative paths resolve against it. */
  baseDir: string;
  /** Draws the validation split. */
  seed: number;
  /** Seed of `testSplit` (the experiment's seed); default 0. */
  splitSeed?: number;
  /** Holds the digest index and, when data.cacheDir is not set, downloads. */
  cacheDir?: string;
  /** `folder`: decoded datasets by key (the data stage's cache entry), so a rerun decodes nothing. */
  decodedCache?: DecodedCache;
}

function sourceContext(opts: Pick<LoadOptions, 'baseDir' | 'cacheDir' | 'splitSeed'>): SourceContext {
  return { baseDir: opts.baseDir, cacheDir: opts.cacheDir, splitSeed: opts.splitSeed ?? 0 };
}

/** The model inputs of one split: its stored values through the dataset's preprocessing. */
export function inputsOf(ds: Pick<Dataset, 'inputShape' | 'dtype' | 'preprocessing'>, split: Examples): ModelInputs {
  return modelInputs(split.x, ds.inputShape, ds.dtype, ds.preprocessing);
}

/**
 * Hash of the data as used, from the source's content hash (hashDataSource) and the subset the
 * config selects. The seed only matters when a validation split is drawn with it.
 */
export function datasetHash(sourceHash: string, cfg: Pick<DataConfig, 'trainLimit' | 'testLimit' | 'validationSplit'>, seed: number): string {
  const parts = {
    source: sourceHash,
    trainLimit: cfg.trainLimit,
    testLimit: cfg.testLimit,
    validationSplit: cfg.validationSplit,
    splitSeed: cfg.validationSplit > 0 ? `${SPLIT_SEED_LABEL}:${seed >>> 0}` : null,
  };
  return sha256Hex(JSON.stringify(parts));
}

/**
 * Content hash of the source without decoding it (see SourceDefinition.contentHash): what stands
 * for the data in the data stage's key.
 */
export async function hashDataSource(cfg: DataConfig, opts: Pick<LoadOptions, 'baseDir' | 'cacheDir' | 'splitSeed'>): Promise<string> {
  return SOURCES[cfg.source].contentHash(cfg, sourceContext(opts));
}

/** The first `n` examples of a split (views: no copy). */
function prefix(d: DecodedData['train'], per: number, n: number): Examples {
  // slice, not subarray, for the labels: small, and the view would keep the reader's buffer alive.
  return { x: d.x.subarray(0, n * per), y: d.y.slice(0, n), count: n };
}

/** Loads the configured dataset (fetching a download once), keeps its subset and resolves its preprocessing. */
export async function loadDataset(cfg: DataConfig, opts: LoadOptions): Promise<Dataset> {
  // Check the limits before any reading, so a typo fails fast.
  applyLimit(Infinity, cfg.trainLimit, 'data.trainLimit');
  applyLimit(Infinity, cfg.testLimit, 'data.testLimit');
  const ctx = sourceContext(opts);
  const source = SOURCES[cfg.source];
  const options = await source.options(cfg, ctx, true);
  if (options === null) throw new KdqError('E_INTERNAL', `data source ${cfg.source} gave no files although fetching was allowed`);
  const [decoded, sourceHash] = await Promise.all([
    readData(options, { cache: opts.decodedCache, digestCacheDir: opts.cacheDir }),
    source.contentHash(cfg, ctx),
  ]);
  const per = decoded.inputShape.reduce((a, b) => a * b, 1);
  const nTrain = applyLimit(decoded.train.count, cfg.trainLimit, 'data.trainLimit');
  const nTest = applyLimit(decoded.test.count, cfg.testLimit, 'data.testLimit');

  let train: Examples;
  let validation: Examples | undefined;
  if (cfg.validationSplit !== 0) {
    const split = splitIndices(nTrain, cfg.validationSplit, opts.seed);
    const pick = (idx: Uint32Array): Examples => ({ x: gatherExamples(decoded.train.x, per, idx), y: gatherLabels(decoded.train.y, idx), count: idx.length });
    train = pick(split.train);
    validation = pick(split.validation);
  } else {
    train = prefix(decoded.train, per, nTrain);
  }
  const channels = decoded.inputShape[decoded.inputShape.length - 1];
  const dataset: Dataset = {
    source: cfg.source,
    inputShape: decoded.inputShape,
    dtype: decoded.dtype,
    numClasses: decoded.numClasses,
    classNames: decoded.classNames,
    featureNames: decoded.featureNames,
    train,
    test: prefix(decoded.test, per, nTest),
    preprocessing: resolvePreprocessing(cfg, decoded.dtype, channels, train.x),
    sha256: datasetHash(sourceHash, cfg, opts.seed),
  };
  if (validation) dataset.validation = validation;
  if (cfg.source === 'folder') dataset.decoded = decoded;
  return dataset;
}
