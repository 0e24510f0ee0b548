/**
 * Fills every default into a schema-valid experiment, producing the resolved `Experiment`. Each
 * key is copied explicitly (never spread) so the result has one fixed key order and no stray
 * keys: a file that writes a default and one that omits it resolve to deep-equal objects, and
 * therefore to the same stage hashes.
 */
import type {
  AugmentConfig,
  CifarDownloadConfig,
  DataConfig,
  DistillationConfig,
  EvaluationConfig,
  Experiment,
  ImportedTeacherConfig,
  LayerSpec,
  ModelConfig,
  QuantizationConfig,
  TrainingConfig,
} from './types.ts';
import { IDX_FILES, METRICS, type Activation, type DataSource, type Initializer, type LrSchedule, type NormalizeMode, type Padding } from '../names.ts';

/**
 * Which sources take each source-specific `data` key; a key written with another source is an
 * error (config/semantic.ts). `scale`, `mean`, `std` and `normalize` apply to every source.
 */
export const DATA_KEY_SOURCES: Record<string, readonly DataSource[]> = {
  files: ['idx'],
  urls: ['download'],
  cacheDir: ['download', 'cifar10', 'cifar100'],
  dir: ['fashion-mnist', 'cifar10', 'cifar100'],
  download: ['cifar10', 'cifar100'],
  labels: ['cifar100'],
  train: ['folder', 'csv'],
  test: ['folder', 'csv'],
  testSplit: ['folder', 'csv'],
  imageSize: ['folder'],
  channels: ['folder'],
  file: ['npz'],
  label: ['csv'],
  numClasses: ['idx', 'download', 'npz', 'csv'],
};

/**
 * `data.scale` when not written, for the sources whose element type is fixed: 1/255 takes bytes
 * to [0, 1]; CSV values are used as they are. `idx`, `download` and `npz` hold either uint8 or
 * float32 (1/255 or 1, decided when the data is read), so a written scale always counts there.
 */
export const DEFAULT_SCALE: Partial<Record<DataSource, number>> = {
  mnist: 1 / 255,
  'fashion-mnist': 1 / 255,
  cifar10: 1 / 255,
  cifar100: 1 / 255,
  folder: 1 / 255,
  csv: 1,
};

/** `data.normalize` when not written: CSV columns are standardized, images are not. */
export function defaultNormalize(source: DataSource): NormalizeMode {
  return source === 'csv' ? 'auto' : 'none';
}

/** Defaults of the experiment file, also stated in schemas/experiment.schema.json and docs/experiment-file.md. */
export const DEFAULTS = {
  seed: 1,
  description: '',
  data: {
    source: 'mnist',
    trainLimit: null,
    testLimit: null,
    validationSplit: 0,
    /** `fashion-mnist`: where Debian's dataset-fashion-mnist installs the IDX .gz files. */
    dir: '/usr/share/datasets/fashion-mnist',
  },
  training: { epochs: 2, batchSize: 32, optimizer: 'adam', learningRate: 0.001, momentum: 0.9, shuffle: true, trainLimit: null, threads: 1 },
  /** Training recipes: each enters a resolved config only when it changes something (stage keys stay put). */
  recipe: {
    schedule: 'constant',
    stepFactor: 0.1,
    warmupEpochs: 0,
    minLearningRate: 0,
    weightDecay: 0,
    labelSmoothing: 0,
    clipNorm: null,
    earlyStopping: { monitor: 'val_loss', patience: 3, minDelta: 0 },
  },
  distillation: { temperature: 5, hardWeight: 0.5, softWeight: 0.5, loss: 'kl', temperatureSquared: true, baseline: true },
  quantization: {
    mode: 'int8',
    calibrationSamples: 100,
    calibration: 'minmax',
    percentile: 99.99,
    perChannel: false,
    inputType: 'float32',
    outputType: 'float32',
  },
  evaluation: { teacherSeed: null },
  /** An imported teacher (`teacher.model`): no preprocessing, output detected, no fine-tuning. */
  importedTeacher: { output: 'auto', scale: 1, mean: 0, std: 1, epochs: 0 },
  layer: {
    strides: 1,
    padding: 'valid',
    activation: 'linear',
    useBias: true,
    kernelInitializer: 'auto',
    poolSize: 2,
    depthMultiplier: 1,
    bnMomentum: 0.99,
    bnEpsilon: 0.001,
  },
} as const;

type Raw = Record<string, unknown>;
type Size = number | [number, number];

function obj(v: unknown): Raw {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Raw) : {};
}
function pick<T>(raw: Raw, key: string, dflt: T): T {
  return raw[key] === undefined ? dflt : (raw[key] as T);
}
/** `[3, 3]` and `3` mean the same window; keep the written form (tf.js accepts both). */
function size(v: unknown, dflt: Size): Size {
  if (v === undefined) return dflt;
  return Array.isArray(v) ? [v[0] as number, v[1] as number] : (v as number);
}

export function resolveLayer(rawLayer: unknown): LayerSpec {
  const r = obj(rawLayer);
  const spec = resolveLayerArgs(r);
  // Wiring keys enter the spec (and so the stage keys) only when written.
  if (typeof r.name === 'string') spec.name = r.name;
  if (Array.isArray(r.inputs)) spec.inputs = (r.inputs as string[]).map(String);
  return spec;
}

/** A layer's own arguments with their defaults, without its wiring. */
function resolveLayerArgs(r: Raw): LayerSpec {
  const L = DEFAULTS.layer;
  const type = r.type as LayerSpec['type'];
  const padding = pick<Padding>(r, 'padding', L.padding);
  const activation = pick<Activation>(r, 'activation', L.activation);
  const useBias = pick(r, 'useBias', L.useBias);
  // Only a chosen initializer enters the spec (and so the stage keys): `auto`, written or not, changes nothing.
  const init = pick<Initializer>(r, 'kernelInitializer', L.kernelInitializer);
  const kernel = init === 'auto' ? {} : { kernelInitializer: init };
  switch (type) {
    case 'conv2d':
      return {
        type,
        filters: r.filters as number,
        kernelSize: size(r.kernelSize, 1),
        strides: size(r.strides, L.strides),
        padding,
        activation,
        useBias,
        ...kernel,
      };
    case 'depthwiseConv2d':
      return {
        type,
        kernelSize: size(r.kernelSize, 1),
        depthMultiplier: pick(r, 'depthMultiplier', L.depthMultiplier),
        strides: size(r.strides, L.strides),
        padding,
        activation,
        useBias,
        ...kernel,
      };
    case 'maxPooling2d':
    case 'averagePooling2d': {
      const poolSize = size(r.poolSize, L.poolSize);
      // tf.js pools with strides = poolSize when none is given; resolve it so both spellings hash alike.
      const strides = r.strides === undefined || r.strides === null ? poolSize : size(r.strides, poolSize);
      return { type, poolSize, strides, padding };
    }
    case 'globalAveragePooling2d':
    case 'flatten':
      return { type };
    case 'dense':
      return { type, units: r.units as number, activation, useBias, ...kernel };
    case 'dropout':
      return { type, rate: r.rate as number };
    case 'batchNormalization':
      return { type, momentum: pick(r, 'momentum', L.bnMomentum), epsilon: pick(r, 'epsilon', L.bnEpsilon) };
    case 'activation':
      return { type, activation: r.activation as Activation };
    case 'add':
    case 'concatenate':
      // `inputs` is required for these (the schema says so); resolveLayer copies it.
      return { type, inputs: [] };
  }
}

function resolveTraining(raw: unknown): TrainingConfig {
  const r = obj(raw);
  const T = DEFAULTS.training;
  const out: TrainingConfig = {
    epochs: pick(r, 'epochs', T.epochs),
    batchSize: pick(r, 'batchSize', T.batchSize),
    optimizer: pick(r, 'optimizer', T.optimizer),
    learningRate: pick(r, 'learningRate', T.learningRate),
    momentum: pick(r, 'momentum', T.momentum),
    shuffle: pick(r, 'shuffle', T.shuffle),
  };
  // Only a real limit enters the config (and so the stage keys): null, written or not, changes nothing.
  const limit = pick<number | null>(r, 'trainLimit', T.trainLimit);
  if (limit !== null) out.trainLimit = limit;
  // Likewise one thread, written or not.
  const threads = pick<number>(r, 'threads', T.threads);
  if (threads !== 1) out.threads = threads;
  // Only augmentations that are on enter the config: `augment: { flip: false }` is no augment at all.
  const a = obj(r.augment);
  const augment: AugmentConfig = {};
  if (typeof a.crop === 'number' && a.crop > 0) augment.crop = a.crop;
  if (a.flip === true) augment.flip = true;
  if (typeof a.translate === 'number' && a.translate > 0) augment.translate = a.translate;
  if (Object.keys(augment).length > 0) out.augment = augment;
  Object.assign(out, resolveRecipe(r));
  return out;
}

/** The recipe keys of `training`, each present only when it differs from plain training. */
function resolveRecipe(r: Raw): Pick<TrainingConfig, 'schedule' | 'weightDecay' | 'labelSmoothing' | 'clipNorm' | 'earlyStopping'> {
  const R = DEFAULTS.recipe;
  const out: Pick<TrainingConfig, 'schedule' | 'weightDecay' | 'labelSmoothing' | 'clipNorm' | 'earlyStopping'> = {};
  const s = obj(r.schedule);
  const type = pick<LrSchedule>(s, 'type', R.schedule);
  if (type === 'step') out.schedule = { type, every: s.every as number, factor: pick(s, 'factor', R.stepFactor) };
  if (type === 'cosine')
    out.schedule = { type, warmupEpochs: pick(s, 'warmupEpochs', R.warmupEpochs), minLearningRate: pick(s, 'minLearningRate', R.minLearningRate) };
  const decay = pick<number>(r, 'weightDecay', R.weightDecay);
  if (decay !== 0) out.weightDecay = decay;
  const smoothing = pick<number>(r, 'labelSmoothing', R.labelSmoothing);
  if (smoothing !== 0) out.labelSmoothing = smoothing;
  const clip = pick<number | null>(r, 'clipNorm', R.clipNorm);
  if (clip !== null) out.clipNorm = clip;
  if (r.earlyStopping !== undefined && r.earlyStopping !== null) {
    const e = obj(r.earlyStopping);
    const E = R.earlyStopping;
    out.earlyStopping = { monitor: pick(e, 'monitor', E.monitor), patience: pick(e, 'patience', E.patience), minDelta: pick(e, 'minDelta', E.minDelta) };
  }
  return out;
}

function resolveModel(raw: unknown): ModelConfig {
  const r = obj(raw);
  return { layers: (Array.isArray(r.layers) ? r.layers : []).map(resolveLayer), training: resolveTraining(r.training) };
}

/**
 * An imported teacher (`teacher.model`). `inputLayout` stays absent unless written (the loader
 * fills in the format's default once it has read the file); `training.epochs` is 0 unless written,
 * which means no fine-tuning.
 */
function resolveImportedTeacher(r: Raw): ImportedTeacherConfig {
  const I = DEFAULTS.importedTeacher;
  const rawTraining = obj(r.training);
  const out: ImportedTeacherConfig = {
    model: r.model as string,
    output: pick(r, 'output', I.output),
    scale: pick(r, 'scale', I.scale),
    mean: oneOrList(pick(r, 'mean', I.mean)),
    std: oneOrList(pick(r, 'std', I.std)),
    training: { ...resolveTraining(rawTraining), epochs: pick(rawTraining, 'epochs', I.epochs) },
  };
  if (r.inputLayout !== undefined) out.inputLayout = r.inputLayout as ImportedTeacherConfig['inputLayout'];
  return out;
}

/** A list of equal per-channel values means one value: written either way, the config is the same. */
function oneOrList(v: number | number[]): number | number[] {
  return Array.isArray(v) && v.length > 0 && v.every((x) => x === v[0]) ? v[0]! : v;
}

function resolveTeacher(raw: unknown): Experiment['teacher'] {
  const r = obj(raw);
  return typeof r.model === 'string' && r.layers === undefined ? resolveImportedTeacher(r) : resolveModel(r);
}

function resolveData(raw: unknown): DataConfig {
  const r = obj(raw);
  const D = DEFAULTS.data;
  const out: DataConfig = {
    source: pick(r, 'source', D.source),
    trainLimit: pick(r, 'trainLimit', D.trainLimit),
    testLimit: pick(r, 'testLimit', D.testLimit),
    validationSplit: pick(r, 'validationSplit', D.validationSplit),
  };
  const source = out.source;
  const uses = (key: string) => (DATA_KEY_SOURCES[key] as readonly string[]).includes(source) && r[key] !== undefined;
  // Source-specific keys appear only with their source, so an irrelevant leftover cannot change a hash.
  if (source === 'idx' && r.files) {
    const f = obj(r.files);
    out.files = Object.fromEntries(IDX_FILES.map((k) => [k, f[k] as string])) as DataConfig['files'];
  }
  if (source === 'download' && r.urls) {
    const u = obj(r.urls);
    out.urls = Object.fromEntries(
      IDX_FILES.map((k) => [k, { url: obj(u[k]).url as string, sha256: (obj(u[k]).sha256 as string).toLowerCase() }]),
    ) as DataConfig['urls'];
  }
  if (source === 'fashion-mnist') out.dir = pick(r, 'dir', D.dir);
  if ((source === 'cifar10' || source === 'cifar100') && uses('dir')) out.dir = r.dir as string;
  if (uses('download')) out.download = resolveCifarDownload(r.download);
  if (uses('cacheDir')) out.cacheDir = r.cacheDir as string;
  // Keys added with issue 18 enter the config only when written and not the source's default.
  if (uses('labels') && r.labels !== 'fine') out.labels = r.labels as DataConfig['labels'];
  for (const key of ['train', 'test', 'testSplit', 'file', 'label', 'numClasses', 'channels'] as const) {
    if (uses(key)) (out as unknown as Record<string, unknown>)[key] = r[key];
  }
  if (uses('imageSize')) out.imageSize = [...(r.imageSize as [number, number])];
  if (r.scale !== undefined && r.scale !== DEFAULT_SCALE[source]) out.scale = r.scale as number;
  for (const key of ['mean', 'std'] as const) {
    if (r[key] !== undefined) out[key] = Array.isArray(r[key]) ? [...(r[key] as number[])] : [r[key] as number];
  }
  if (r.normalize !== undefined && r.normalize !== defaultNormalize(source)) out.normalize = r.normalize as NormalizeMode;
  return out;
}

function resolveCifarDownload(raw: unknown): CifarDownloadConfig {
  const r = obj(raw);
  const file = (v: unknown) => ({ url: obj(v).url as string, sha256: (obj(v).sha256 as string).toLowerCase() });
  if (r.archive !== undefined) return { archive: file(r.archive) };
  return { files: Object.fromEntries(Object.entries(obj(r.files)).map(([name, v]) => [name, file(v)])) };
}

function resolveDistillation(raw: unknown): DistillationConfig {
  const r = obj(raw);
  const D = DEFAULTS.distillation;
  return {
    temperature: pick(r, 'temperature', D.temperature),
    hardWeight: pick(r, 'hardWeight', D.hardWeight),
    softWeight: pick(r, 'softWeight', D.softWeight),
    loss: pick(r, 'loss', D.loss),
    temperatureSquared: pick(r, 'temperatureSquared', D.temperatureSquared),
    baseline: pick(r, 'baseline', D.baseline),
  };
}

function resolveQuantization(raw: unknown): QuantizationConfig {
  const r = obj(raw);
  const Q = DEFAULTS.quantization;
  return {
    mode: pick(r, 'mode', Q.mode),
    calibrationSamples: pick(r, 'calibrationSamples', Q.calibrationSamples),
    calibration: pick(r, 'calibration', Q.calibration),
    percentile: pick(r, 'percentile', Q.percentile),
    perChannel: pick(r, 'perChannel', Q.perChannel),
    inputType: pick(r, 'inputType', Q.inputType),
    outputType: pick(r, 'outputType', Q.outputType),
  };
}

function resolveEvaluation(raw: unknown, seed: number): EvaluationConfig {
  const r = obj(raw);
  return {
    seeds: Array.isArray(r.seeds) ? [...(r.seeds as number[])] : [seed],
    teacherSeed: pick<number | null>(r, 'teacherSeed', DEFAULTS.evaluation.teacherSeed),
    // Metrics are a set: report them in the canonical order whatever order the file lists.
    metrics: Array.isArray(r.metrics) ? METRICS.filter((m) => (r.metrics as string[]).includes(m)) : [...METRICS],
  };
}

/** The resolved experiment for a schema-valid merged document (`extends` already removed). */
export function resolveDefaults(raw: unknown): Experiment {
  const r = obj(raw);
  const seed = pick(r, 'seed', DEFAULTS.seed);
  return {
    name: r.name as string,
    description: pick(r, 'description', DEFAULTS.description),
    seed,
    data: resolveData(r.data),
    teacher: resolveTeacher(r.teacher),
    student: resolveModel(r.student),
    distillation: resolveDistillation(r.distillation),
    quantization: resolveQuantization(r.quantization),
    evaluation: resolveEvaluation(r.evaluation, seed),
  };
}
