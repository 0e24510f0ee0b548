/**
 * The one source of every list of names kdq accepts. The JSON schema's enums, the layer and
 * optimizer registries, the CLI's help and the stage graph all derive from these lists, and
 * test/names.test.ts checks that the schema and the registries agree with them.
 */

/**
 * Layer kinds of a `layers:` list (tf.js layer names, camelCase). `add` and `concatenate` join two
 * or more earlier layers named in their `inputs`; every other kind reads one input.
 */
export const LAYER_TYPES = [
  'conv2d',
  'depthwiseConv2d',
  'maxPooling2d',
  'averagePooling2d',
  'globalAveragePooling2d',
  'flatten',
  'dense',
  'dropout',
  'batchNormalization',
  'activation',
  'add',
  'concatenate',
] as const;
export type LayerType = (typeof LAYER_TYPES)[number];

/** Layer kinds that join several inputs (the others read exactly one). */
export const MERGE_LAYER_TYPES = ['add', 'concatenate'] as const satisfies readonly LayerType[];
export type MergeLayerType = (typeof MERGE_LAYER_TYPES)[number];

/** What a layer's `inputs` calls the model's input (no layer may take this name). */
export const MODEL_INPUT_NAME = 'input';

/** Activation functions, as a layer's `activation:` or an `activation` layer. */
export const ACTIVATIONS = ['linear', 'relu', 'relu6', 'tanh', 'sigmoid', 'softmax'] as const;
export type Activation = (typeof ACTIVATIONS)[number];

/**
 * Kernel initializers of conv2d, depthwiseConv2d and dense layers. `auto` picks by activation:
 * He normal before relu/relu6, Glorot uniform otherwise; `glorotUniform` everywhere is Keras'
 * default (what the notebook trained with).
 */
export const INITIALIZERS = ['auto', 'glorotUniform', 'glorotNormal', 'heNormal', 'heUniform'] as const;
export type Initializer = (typeof INITIALIZERS)[number];

export const PADDINGS = ['valid', 'same'] as const;
export type Padding = (typeof PADDINGS)[number];

export const OPTIMIZERS = ['adam', 'sgd', 'rmsprop'] as const;
export type OptimizerName = (typeof OPTIMIZERS)[number];

/**
 * Learning-rate schedules (`training.schedule.type`), applied per epoch: `constant` keeps
 * `learningRate`, `step` multiplies it by `factor` every `every` epochs, `cosine` warms up linearly
 * over `warmupEpochs` and then follows a half cosine down towards `minLearningRate`.
 */
export const LR_SCHEDULES = ['constant', 'step', 'cosine'] as const;
export type LrSchedule = (typeof LR_SCHEDULES)[number];

/** What `training.earlyStopping` watches: the held-out images' cross-entropy (lower is better) or accuracy (higher is better). */
export const EARLY_STOPPING_MONITORS = ['val_loss', 'val_accuracy'] as const;
export type EarlyStoppingMonitor = (typeof EARLY_STOPPING_MONITORS)[number];

/** Soft-term losses: `kl` on temperature-softened probabilities, `mse` on raw logits. */
export const KD_LOSSES = ['kl', 'mse'] as const;
export type KdLoss = (typeof KD_LOSSES)[number];

export const QUANT_MODES = ['none', 'dynamic-range', 'float16', 'int8'] as const;
export type QuantMode = (typeof QUANT_MODES)[number];

/** Activation-range calibration methods for full-integer quantization. */
export const CALIBRATION_METHODS = ['minmax', 'percentile'] as const;
export type CalibrationMethod = (typeof CALIBRATION_METHODS)[number];

/** Input/output tensor types of a full-integer .tflite file. */
export const IO_TYPES = ['float32', 'int8', 'uint8'] as const;
export type IoType = (typeof IO_TYPES)[number];

/**
 * Where an experiment's data comes from (`data.source`). `mnist` and `fashion-mnist` are the
 * built-in IDX sets; `idx` reads any four IDX files and `download` fetches them; `cifar10` and
 * `cifar100` read the binary version of CIFAR (a folder, or a download); `folder` decodes a folder
 * of images, one subfolder per class; `npz` reads numpy.savez arrays; `csv` a table of numbers.
 */
export const DATA_SOURCES = ['mnist', 'fashion-mnist', 'idx', 'download', 'cifar10', 'cifar100', 'folder', 'npz', 'csv'] as const;
export type DataSource = (typeof DATA_SOURCES)[number];

/**
 * Data formats the readers of src/data/formats/ understand, one file each; every source reads
 * through one of them (the four IDX sources through `idx`).
 */
export const DATA_FORMATS = ['idx', 'cifar10', 'cifar100', 'folder', 'npz', 'csv'] as const;
export type DataFormat = (typeof DATA_FORMATS)[number];

/**
 * `data.normalize`: `auto` computes each channel's (or feature's) mean and standard deviation on
 * the training split and standardizes with them; `none` leaves the scaled values as they are.
 */
export const NORMALIZE_MODES = ['auto', 'none'] as const;
export type NormalizeMode = (typeof NORMALIZE_MODES)[number];

/** Augmentations of `training.augment` (image data only, training split only, seeded per epoch). */
export const AUGMENTATIONS = ['crop', 'flip', 'translate'] as const;
export type Augmentation = (typeof AUGMENTATIONS)[number];

/** Which of CIFAR-100's two label sets a run classifies: 100 fine classes or 20 coarse superclasses. */
export const CIFAR100_LABEL_SETS = ['fine', 'coarse'] as const;
export type Cifar100LabelSet = (typeof CIFAR100_LABEL_SETS)[number];

/** `data.channels` of an image folder: decode to greyscale (1) or RGB (3). */
export const IMAGE_CHANNELS = [1, 3] as const;
export type ImageChannels = (typeof IMAGE_CHANNELS)[number];

/** The four files of an IDX dataset, as keys of `data.files`. */
export const IDX_FILES = ['trainImages', 'trainLabels', 'testImages', 'testLabels'] as const;
export type IdxFile = (typeof IDX_FILES)[number];

export const BACKENDS = ['node', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKENDS)[number];

/** Builds of kdq's wasm SIMD kernels: fused multiply-add (relaxed SIMD), plain SIMD, none (JavaScript). */
export const SIMD_VARIANTS = ['fma', 'plain', 'none'] as const;
export type SimdVariant = (typeof SIMD_VARIANTS)[number];

/** Where stages run with `kdq run --executor`: worker processes on this machine, or workers anywhere through BullMQ on Redis. */
export const EXECUTORS = ['local', 'bullmq'] as const;
export type ExecutorName = (typeof EXECUTORS)[number];

/** Metrics a run can report (`evaluation.metrics`). */
export const METRICS = ['accuracy', 'agreement', 'size', 'latency', 'perClass', 'confusion'] as const;
export type MetricName = (typeof METRICS)[number];

/**
 * Stage kinds of the pipeline DAG. `data` fingerprints and loads the dataset; `teacher`, `student`
 * (distilled) and `baseline` (same student, cross-entropy only) train; `imported-teacher` checks a
 * teacher trained elsewhere against the data and evaluates it in its own runtime (and fine-tunes a
 * TF.js one when asked); `soft-labels` computes the teacher's logits once; `export` writes a float32 or quantized .tflite file; `evaluate` runs an
 * exported file in a TFLite runtime; `report` assembles metrics.json in the run folder.
 */
export const STAGE_KINDS = ['data', 'teacher', 'imported-teacher', 'soft-labels', 'student', 'baseline', 'export', 'evaluate', 'report'] as const;
export type StageKind = (typeof STAGE_KINDS)[number];

/** Models a run reports, as keys of metrics.json `models`. */
export const MODEL_ROLES = ['teacher', 'student', 'student_baseline', 'student_int8', 'student_float16', 'student_dynamic-range'] as const;
export type ModelRole = (typeof MODEL_ROLES)[number];

export function isModelRole(v: unknown): v is ModelRole {
  return (MODEL_ROLES as readonly unknown[]).includes(v);
}

/** Official TFLite runtimes from npm that kdq evaluates .tflite files in (LiteRT.js, tfjs-tflite). */
export const TFLITE_RUNTIMES = ['litert', 'tfjs-tflite'] as const;
export type TfliteRuntime = (typeof TFLITE_RUNTIMES)[number];

/**
 * Formats of a teacher trained elsewhere (`teacher.model`), detected from the file's content:
 * `onnx` (what torch.onnx.export writes), `tfjs-layers` (a TF.js LayersModel: model.json and its
 * weight shards), `tflite` (a .tflite flatbuffer).
 */
export const TEACHER_FORMATS = ['onnx', 'tfjs-layers', 'tflite'] as const;
export type TeacherFormat = (typeof TEACHER_FORMATS)[number];

/** Memory layout of a teacher's image input: PyTorch's channels-first or TensorFlow's channels-last. */
export const TEACHER_INPUT_LAYOUTS = ['nchw', 'nhwc'] as const;
export type TeacherInputLayout = (typeof TEACHER_INPUT_LAYOUTS)[number];

/** What a teacher's output is: `auto` detects a final softmax in the model. */
export const TEACHER_OUTPUTS = ['auto', 'logits', 'probabilities'] as const;
export type TeacherOutput = (typeof TEACHER_OUTPUTS)[number];
