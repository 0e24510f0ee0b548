/**
 * The experiment file, as TypeScript types. `Experiment` is the resolved form: `extends` merged,
 * `--set` overrides applied, every default filled in. schemas/experiment.schema.json describes the
 * same shape as written by users (where most keys are optional); the loader turns one into the other.
 */
import type {
  Activation,
  CalibrationMethod,
  Cifar100LabelSet,
  DataSource,
  EarlyStoppingMonitor,
  IdxFile,
  Initializer,
  IoType,
  KdLoss,
  MetricName,
  NormalizeMode,
  OptimizerName,
  Padding,
  QuantMode,
  TeacherFormat,
  TeacherInputLayout,
  TeacherOutput,
} from '../names.ts';

/** A remote file of a `download` source. */
export interface DownloadFile {
  url: string;
  /** Hex sha256 of the file as downloaded (gzipped or not). The file is never used unverified. */
  sha256: string;
}

/** CIFAR through the download cache: the official archive, or each file of the binary version by name. */
export type CifarDownloadConfig = { archive: DownloadFile } | { files: Record<string, DownloadFile> };

/**
 * `data:` resolved. Keys of one source appear only with that source, and keys added after the
 * first release (everything below `dir`) only when the file writes them (a value equal to the
 * source's default is dropped), so an experiment that does not use them keeps its stage keys.
 */
export interface DataConfig {
  source: DataSource;
  /** `idx`: paths of the four IDX files (relative to the experiment file), gzipped or not. */
  files?: Record<IdxFile, string>;
  /** `download`: URL and sha256 of each of the four IDX files. */
  urls?: Record<IdxFile, DownloadFile>;
  /** `download`, and `cifar10`/`cifar100` with `download`: where downloaded files are kept, relative to the experiment file (default: `<runs>/.data/downloads`). */
  cacheDir?: string;
  /** `fashion-mnist`: folder of the IDX .gz files (default /usr/share/datasets/fashion-mnist); `cifar10`/`cifar100`: the unpacked binary version. */
  dir?: string;
  /** `cifar10`/`cifar100`: fetch the binary version instead of reading `dir`. */
  download?: CifarDownloadConfig;
  /** `cifar100`: the 100 fine classes (default) or the 20 coarse ones. */
  labels?: Cifar100LabelSet;
  /** `folder`: the folder of class subfolders; `csv`: the training file. */
  train?: string;
  /** `folder`, `csv`: the test folder or file (or else `testSplit`). */
  test?: string;
  /** `folder`, `csv`: fraction of each class held out for testing, drawn with the experiment's seed. */
  testSplit?: number;
  /** `folder`: resize every image to [height, width]. */
  imageSize?: [number, number];
  /** `folder`: 1 (greyscale) or 3 (RGB); default from the first image. */
  channels?: 1 | 3;
  /** `npz`: the .npz file. */
  file?: string;
  /** `csv`: the label column's name (default the last column). */
  label?: string;
  /** `idx`, `download`, `npz`, `csv`: the class count when labels are indices (default the largest training label + 1). */
  numClasses?: number;
  /** Multiplier of the stored values (default 1/255 for uint8 data, 1 for float32). */
  scale?: number;
  /** Per channel (or feature), subtracted after scaling; one value for all channels, or one each. */
  mean?: number[];
  /** Per channel (or feature), divides after the mean is subtracted. */
  std?: number[];
  /** `auto`: mean and std per channel from the training split (default for csv); `none` (default otherwise). */
  normalize?: NormalizeMode;
  /** Use only the first N training images (null: all). */
  trainLimit: number | null;
  /** Use only the first N test images (null: all). */
  testLimit: number | null;
  /** Fraction of the training images held out for validation, chosen by a seeded shuffle. */
  validationSplit: number;
}

/**
 * Where a layer reads from, for networks that branch (residual adds, concatenations). Both keys
 * are absent unless written, so a sequential file keeps its stage keys.
 */
export interface LayerWiring {
  /** What other layers' `inputs` call this layer; unique, and never `input`. */
  name?: string;
  /**
   * Names of earlier layers (or `input`, the model's input) this layer reads, in order. Absent:
   * the layer before it (the model's input for the first layer).
   */
  inputs?: string[];
}

export interface Conv2dLayer extends LayerWiring {
  type: 'conv2d';
  filters: number;
  kernelSize: number | [number, number];
  strides: number | [number, number];
  padding: Padding;
  activation: Activation;
  useBias: boolean;
  /** Absent means `auto`, so files without the key keep their stage keys. */
  kernelInitializer?: Exclude<Initializer, 'auto'>;
}
export interface DepthwiseConv2dLayer extends LayerWiring {
  type: 'depthwiseConv2d';
  kernelSize: number | [number, number];
  depthMultiplier: number;
  strides: number | [number, number];
  padding: Padding;
  activation: Activation;
  useBias: boolean;
  kernelInitializer?: Exclude<Initializer, 'auto'>;
}
export interface Pooling2dLayer extends LayerWiring {
  type: 'maxPooling2d' | 'averagePooling2d';
  poolSize: number | [number, number];
  /** Default: poolSize. */
  strides: number | [number, number] | null;
  padding: Padding;
}
export interface GlobalAveragePooling2dLayer extends LayerWiring {
  type: 'globalAveragePooling2d';
}
export interface FlattenLayer extends LayerWiring {
  type: 'flatten';
}
export interface DenseLayer extends LayerWiring {
  type: 'dense';
  units: number;
  activation: Activation;
  useBias: boolean;
  kernelInitializer?: Exclude<Initializer, 'auto'>;
}
export interface DropoutLayer extends LayerWiring {
  type: 'dropout';
  rate: number;
}
export interface BatchNormalizationLayer extends LayerWiring {
  type: 'batchNormalization';
  momentum: number;
  epsilon: number;
}
export interface ActivationLayer extends LayerWiring {
  type: 'activation';
  activation: Activation;
}

/** The element-wise sum of two or more layers of one shape (a residual connection). */
export interface AddLayer extends LayerWiring {
  type: 'add';
  inputs: string[];
}
/** Two or more layers side by side along the channel (last) axis. */
export interface ConcatenateLayer extends LayerWiring {
  type: 'concatenate';
  inputs: string[];
}

export type LayerSpec =
  | Conv2dLayer
  | DepthwiseConv2dLayer
  | Pooling2dLayer
  | GlobalAveragePooling2dLayer
  | FlattenLayer
  | DenseLayer
  | DropoutLayer
  | BatchNormalizationLayer
  | ActivationLayer
  | AddLayer
  | ConcatenateLayer;

export interface TrainingConfig {
  epochs: number;
  batchSize: number;
  optimizer: OptimizerName;
  learningRate: number;
  /** sgd only. */
  momentum: number;
  /** Shuffle the training set every epoch with the run's seeded PRNG. */
  shuffle: boolean;
  /**
   * Train on only the first N of the run's training images. Absent when the file says null (all
   * images), so configs without it keep the stage keys they had before the key existed. On the
   * student it is the transfer set; the baseline trains on the same images.
   */
  trainLimit?: number;
  /**
   * Threads training data-parallel, each on an equal part of every batch. Absent when 1, so
   * configs without it keep their stage keys. The result depends on it (each thread's gradient
   * is rounded on its own), not on the machine: 2 threads on one core give the same weights.
   */
  threads?: number;
  /** How the learning rate changes per epoch. Absent for `constant`, written or not (stage keys unchanged). */
  schedule?: ScheduleConfig;
  /**
   * Decoupled weight decay (AdamW's, for every optimizer): before each update, every weight
   * matrix and convolution kernel (rank >= 2) shrinks by lr * weightDecay * w; biases and batch-norm
   * parameters do not. Absent when 0.
   */
  weightDecay?: number;
  /** Label smoothing epsilon of the hard cross-entropy term (targets (1 - eps) y + eps / K). Absent when 0. */
  labelSmoothing?: number;
  /** Largest global L2 norm of a step's gradients; a larger gradient is scaled down to it. Absent: no clipping. */
  clipNorm?: number;
  /** Stop when the validation metric stops improving and keep the best epoch's weights. Absent: train every epoch. */
  earlyStopping?: EarlyStoppingConfig;
  /**
   * Random changes to each training image, drawn anew every epoch from the seed (image data only).
   * Absent when every augmentation is off, so configs without it keep their stage keys.
   */
  augment?: AugmentConfig;
}

/** `training.augment`: what happens to a training image before each step that uses it. */
export interface AugmentConfig {
  /** Pad this many zero pixels around the image and take a random window of its size (0: off). */
  crop?: number;
  /** Mirror left-right with probability 1/2. */
  flip?: boolean;
  /** Shift by up to this many pixels in each direction, repeating the edge pixels (0: off). */
  translate?: number;
}

/** A learning-rate schedule as resolved: only the keys of its type. */
export type ScheduleConfig = { type: 'step'; every: number; factor: number } | { type: 'cosine'; warmupEpochs: number; minLearningRate: number };

export interface EarlyStoppingConfig {
  monitor: EarlyStoppingMonitor;
  /** Epochs without an improvement larger than `minDelta` before training stops. */
  patience: number;
  /** Least change of the monitored value that counts as an improvement. */
  minDelta: number;
}

/**
 * A network. Its layers compute logits: a `softmax` is allowed only as the very last activation
 * (the notebook's style) and means the same thing, since kdq trains on logits and every exported
 * .tflite file ends in SOFTMAX anyway.
 */
export interface ModelConfig {
  layers: LayerSpec[];
  training: TrainingConfig;
}

/**
 * A teacher trained elsewhere (`teacher.model` instead of `teacher.layers`): an ONNX file, a TF.js
 * LayersModel (model.json and its shards) or a .tflite file, run in its own runtime.
 */
export interface ImportedTeacherConfig {
  /** The model file, relative to the experiment file (the loader restates it so). */
  model: string;
  /** Read from the file's content by the loader; absent only in a config that was never loaded. */
  format?: TeacherFormat;
  /** How the model's input is laid out; the loader fills in the format's default (ONNX nchw, else nhwc). */
  inputLayout?: TeacherInputLayout;
  /** `auto` detects a final softmax; probabilities become log-probabilities before the temperature. */
  output: TeacherOutput;
  /** The teacher sees `(pixel * scale - mean) / std`, pixel in [0, 1]. */
  scale: number;
  /** One value, or one per channel. */
  mean: number | number[];
  /** One value, or one per channel. */
  std: number | number[];
  /** TF.js teachers only: `epochs > 0` fine-tunes the teacher on the run's data before distillation. */
  training: TrainingConfig;
}

/** The teacher is either trained by kdq from `layers` or imported from a model file. */
export type TeacherConfig = ModelConfig | ImportedTeacherConfig;

export interface DistillationConfig {
  /** Softmax temperature T of the soft term (> 0). */
  temperature: number;
  /** Weight of CE(y, softmax(s)). */
  hardWeight: number;
  /** Weight of the soft term. */
  softWeight: number;
  loss: KdLoss;
  /** `kl` only: multiply the soft term by T^2 (Hinton et al. 2015), so its gradients keep their scale as T changes. */
  temperatureSquared: boolean;
  /** Also train the same student without KD (cross-entropy only) for comparison. */
  baseline: boolean;
}

export interface QuantizationConfig {
  mode: QuantMode;
  /** Training images used to calibrate activation ranges (int8). */
  calibrationSamples: number;
  calibration: CalibrationMethod;
  /** `percentile` calibration: the percentile of |activation| kept, e.g. 99.99. */
  percentile: number;
  /** Per-channel scales for dense weights too (conv weights are always per channel). */
  perChannel: boolean;
  inputType: IoType;
  outputType: IoType;
}

export interface EvaluationConfig {
  /** Repeat the learning stages once per seed; metrics report each seed and mean / std. */
  seeds: number[];
  /**
   * Seed of the one teacher every seed's student learns from (trained, exported and evaluated
   * once, reported under every seed); null trains a teacher per seed. The teacher's key depends on
   * this seed only, so it is the key the per-seed teacher of the same seed has.
   */
  teacherSeed: number | null;
  metrics: MetricName[];
}

export interface Experiment {
  name: string;
  description: string;
  seed: number;
  data: DataConfig;
  teacher: TeacherConfig;
  student: ModelConfig;
  distillation: DistillationConfig;
  quantization: QuantizationConfig;
  evaluation: EvaluationConfig;
}

/**
 * `sweep:` as written in the file, after `--sweep` arguments were merged in. Grid keys each form
 * one axis; the `zip` keys together form one more axis whose lists are walked in step.
 */
export interface SweepConfig {
  /** Key path (e.g. `distillation.temperature`) -> its values, one axis each, in written order. */
  grid: Record<string, unknown[]>;
  /** Key paths whose lists (all the same length) are paired item by item. */
  zip: Record<string, unknown[]>;
  /** metrics.json path that ranks the points (highest is best); null: the default (see src/sweep/summary.ts). */
  rank: string | null;
}
