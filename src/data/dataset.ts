/**
 * The dataset as training and evaluation see it: locate the four IDX files of the configured
 * source, decode and check them, keep the configured subset and scale pixels to [0, 1].
 */
import type { DataConfig } from '../config/types.ts';
import { KdqError } from '../errors.ts';
import { IDX_FILES, type IdxFile } from '../names.ts';
import { digestFiles, lookupDigest, rememberDigests, sha256Hex } from './file-digest.ts';
import { checkCountsMatch, inflateIfGzip, parseIdxLabels, type IdxImages, type IdxLabels } from './idx.ts';
import { readIdxImages, readWhole } from './idx-file.ts';
import { SOURCES, type LocatedFiles } from './sources.ts';
import { applyLimit, gatherLabels, gatherScaled, scalePrefix, splitIndices, SPLIT_SEED_LABEL } from './subset.ts';

export interface Dataset {
  /** Pixel values scaled to [0, 1], NHWC row-major, length n * height * width * channels. */
  trainImages: Float32Array;
  trainLabels: Uint8Array;
  testImages: Float32Array;
  testLabels: Uint8Array;
  /** Held-out part of the training file (data.validationSplit > 0), same layout as trainImages. */
  validation?: { images: Float32Array; labels: Uint8Array };
  height: number;
  width: number;
  channels: number;
  numClasses: number;
  /** sha256 of the data as used: the four files' digests, the limits and split (stable, hex). */
  sha256: string;
  /** Where each file came from, for metrics and error messages. */
  files: Record<IdxFile, string>;
}

/** Combines the four files' digests into the source's content hash (independent of the source kind). */
export function sourceHashOf(digests: Record<IdxFile, string>): string {
  return sha256Hex(JSON.stringify(IDX_FILES.map((k) => [k, digests[k]])));
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
 * Content hash of the source files without decoding them. Downloads are named by their declared
 * digest (no network); files on disk are hashed once and then remembered by (path, size, mtimeMs)
 * in an index in `cacheDir`, so a second call costs a stat, not a read of 47 MB.
 */
export async function hashDataSource(cfg: DataConfig, opts: { baseDir: string; cacheDir?: string }): Promise<string> {
  const source = SOURCES[cfg.source];
  const declared = source.declaredDigests(cfg);
  if (declared) return sourceHashOf(declared);
  const located = await source.locate(cfg, opts);
  const digests = await digestFiles(
    IDX_FILES.map((k) => ({ path: located.paths[k], role: `${cfg.source} ${k}` })),
    opts.cacheDir,
  );
  return sourceHashOf(Object.fromEntries(IDX_FILES.map((k, i) => [k, digests[i].sha256])) as Record<IdxFile, string>);
}

/**
 * Digests of the four files: verified by the source (downloads), from the digest index, hashed from
 * the bytes already in memory, or else streamed from disk (after a prefix read); new ones are remembered.
 */
async function digestsOf(
  located: LocatedFiles,
  raw: Record<IdxFile, Uint8Array | null>,
  cacheDir: string | undefined,
): Promise<Record<IdxFile, string>> {
  if (located.verifiedDigests) return located.verifiedDigests;
  const out = {} as Record<IdxFile, string>;
  const fresh: { path: string; sha256: string }[] = [];
  const unread: IdxFile[] = [];
  for (const k of IDX_FILES) {
    const known = await lookupDigest(located.paths[k], cacheDir);
    const bytes = raw[k];
    if (known) out[k] = known;
    else if (bytes) fresh.push({ path: located.paths[k], sha256: (out[k] = sha256Hex(bytes)) });
    else unread.push(k);
  }
  await rememberDigests(fresh, cacheDir);
  const streamed = await digestFiles(
    unread.map((k) => ({ path: located.paths[k], role: k })),
    cacheDir,
  );
  unread.forEach((k, i) => (out[k] = streamed[i].sha256));
  return out;
}

interface Decoded {
  trainImages: IdxImages;
  trainLabels: IdxLabels;
  testImages: IdxImages;
  testLabels: IdxLabels;
  numClasses: number;
}

function decode(located: LocatedFiles, trainImages: IdxImages, testImages: IdxImages, bytes: { trainLabels: Uint8Array; testLabels: Uint8Array }): Decoded {
  const p = located.paths;
  const fixed = located.numClasses ?? undefined;
  const trainLabels = parseIdxLabels(bytes.trainLabels, p.trainLabels, fixed);
  // Without a fixed class count the training labels define it; a test label past them is an error.
  const numClasses = fixed ?? trainLabels.maxLabel + 1;
  const testLabels = parseIdxLabels(bytes.testLabels, p.testLabels, numClasses);
  checkCountsMatch(trainImages, p.trainImages, trainLabels, p.trainLabels);
  checkCountsMatch(testImages, p.testImages, testLabels, p.testLabels);
  if (trainImages.count === 0 || testImages.count === 0) {
    const empty = trainImages.count === 0 ? p.trainImages : p.testImages;
    throw new KdqError('E_DATA', `'${empty}' holds no images; ${located.fix}`);
  }
  const shape = (i: IdxImages) => `${i.height} x ${i.width} x ${i.channels}`;
  if (shape(trainImages) !== shape(testImages)) {
    throw new KdqError(
      'E_DATA',
      `training images '${p.trainImages}' are ${shape(trainImages)} but test images '${p.testImages}' are ${shape(testImages)}; ` +
        `both must have the same size: check that the files come from the same dataset`,
    );
  }
  if (numClasses < 2) {
    throw new KdqError('E_DATA', `'${p.trainLabels}' has only label ${trainLabels.maxLabel}; a classifier needs at least 2 classes: ${located.fix}`);
  }
  return { trainImages, trainLabels, testImages, testLabels, numClasses };
}

/**
 * Loads the configured dataset. `baseDir` is the folder of the experiment file (idx paths are
 * relative to it); `seed` draws the validation split; `cacheDir` holds the digest index (and
 * downloads when data.cacheDir is not set).
 */
export async function loadDataset(cfg: DataConfig, opts: { baseDir: string; seed: number; cacheDir?: string }): Promise<Dataset> {
  // Check the limits before any reading, so a typo fails fast.
  applyLimit(Infinity, cfg.trainLimit, 'data.trainLimit');
  applyLimit(Infinity, cfg.testLimit, 'data.testLimit');
  const located = await SOURCES[cfg.source].locate(cfg, opts);
  const role = (k: IdxFile) => `${cfg.source} ${k}`;
  const [trainRead, testRead, trainLabelsRaw, testLabelsRaw] = await Promise.all([
    readIdxImages(located.paths.trainImages, cfg.trainLimit, role('trainImages'), located.fix),
    readIdxImages(located.paths.testImages, cfg.testLimit, role('testImages'), located.fix),
    readWhole(located.paths.trainLabels, role('trainLabels'), located.fix),
    readWhole(located.paths.testLabels, role('testLabels'), located.fix),
  ]);
  const [digests, trainLabelBytes, testLabelBytes] = await Promise.all([
    digestsOf(located, { trainImages: trainRead.raw, testImages: testRead.raw, trainLabels: trainLabelsRaw, testLabels: testLabelsRaw }, opts.cacheDir),
    inflateIfGzip(trainLabelsRaw, located.paths.trainLabels),
    inflateIfGzip(testLabelsRaw, located.paths.testLabels),
  ]);
  const d = decode(located, trainRead.images, testRead.images, { trainLabels: trainLabelBytes, testLabels: testLabelBytes });

  const ppi = d.trainImages.height * d.trainImages.width * d.trainImages.channels;
  const nTrain = applyLimit(d.trainImages.count, cfg.trainLimit, 'data.trainLimit');
  const nTest = applyLimit(d.testImages.count, cfg.testLimit, 'data.testLimit');

  let trainImages: Float32Array;
  let trainLabels: Uint8Array;
  let validation: Dataset['validation'];
  if (cfg.validationSplit !== 0) {
    const split = splitIndices(nTrain, cfg.validationSplit, opts.seed);
    trainImages = gatherScaled(d.trainImages.pixels, ppi, split.train);
    trainLabels = gatherLabels(d.trainLabels.labels, split.train);
    validation = { images: gatherScaled(d.trainImages.pixels, ppi, split.validation), labels: gatherLabels(d.trainLabels.labels, split.validation) };
  } else {
    trainImages = scalePrefix(d.trainImages.pixels, ppi, nTrain);
    // slice, not subarray: the label view would otherwise keep the whole file's bytes alive.
    trainLabels = d.trainLabels.labels.slice(0, nTrain);
  }
  const dataset: Dataset = {
    trainImages,
    trainLabels,
    testImages: scalePrefix(d.testImages.pixels, ppi, nTest),
    testLabels: d.testLabels.labels.slice(0, nTest),
    height: d.trainImages.height,
    width: d.trainImages.width,
    channels: d.trainImages.channels,
    numClasses: d.numClasses,
    sha256: datasetHash(sourceHashOf(digests), cfg, opts.seed),
    files: located.origins,
  };
  if (validation) dataset.validation = validation;
  return dataset;
}
