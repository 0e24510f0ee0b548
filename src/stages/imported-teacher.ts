/**
 * `imported-teacher`: a teacher trained elsewhere (ONNX, a TF.js LayersModel, .tflite), opened in
 * its own runtime and checked against the run's data before anything trains (a readable file,
 * operators the runtime runs, input shape and layout, class count: each a KdqError E_TEACHER,
 * exit 2, nothing cached). It evaluates the teacher on the test set in that runtime, and a TF.js
 * teacher with `training` is fine-tuned on the run's data and saved as a LayersModel in its folder.
 * The soft labels and the export read the teacher through `openStageTeacher` and
 * `loadStageTeacherModel`, so they need not know which it was.
 */
import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import type { Dataset, Examples } from '../data/dataset.ts';
import { modelInputs, type ModelInputs } from '../data/model-inputs.ts';
import { defaultScale } from '../data/preprocess.ts';
import { KdqError } from '../errors.ts';
import type { StageInput } from '../pipeline/stage.ts';
import type { Teacher, TeacherOptions } from '../teacher/index.ts';
import type { TeacherProgress } from '../teacher/types.ts';
import type { TeacherFormat } from '../names.ts';
import { DEFAULT_LAYOUT } from '../teacher/settings.ts';
import { accuracy, perClassAccuracy } from '../train/metrics.ts';
import { writeFloats, writeJson, type StageServices } from './context.ts';
import { HISTORY_FILE, SOFT_LOGITS, TEST_LOGITS } from './model-files.ts';
import type { ImportedTeacherStageConfig, KdStageDefinition } from './types.ts';

/** What the stage records about the teacher, beside its test logits. */
export const TEACHER_INFO = 'teacher.json';
/** A fine-tuned teacher's folder in the stage's output: model.json and its weight shards. */
export const FINE_TUNED_DIR = 'model';

export interface ImportedTeacherInfo {
  format: TeacherFormat;
  /** The model file as the experiment names it. */
  file: string;
  /** Every file the teacher reads (model.json and its shards; an ONNX model and its external data). */
  files: number;
  /** Their total size. */
  bytes: number;
  /** sha256 of the model file. */
  sha256: string;
  /** Weights, when the format says (ONNX and .tflite: elements of the weight tensors). */
  params?: number;
  /** The runtime it ran in, e.g. `onnxruntime-node 1.31.1`. */
  runtime: string;
  /** What the model outputs, and why kdq thinks so. */
  output: 'logits' | 'probabilities';
  outputReason: string;
  /** Test accuracy as imported, in its own runtime. */
  importedAccuracy: number;
  /** Test accuracy of the teacher the student learns from: after fine-tuning when fine-tuned. */
  accuracy: number;
  per_class_accuracy: (number | null)[];
  test: number;
  /** Epochs of fine-tuning on the run's data (TF.js teachers), when fine-tuned. */
  fineTunedEpochs?: number;
  /** Why the run has no teacher.tflite, when kdq cannot write one (ONNX and .tflite teachers). */
  noTflite?: string;
}

/** The seed a teacher stage's dataset is drawn with: the data's own when it has one. */
function dataSeed(data: StageInput<{ seed?: number }>, fallback: number | undefined): number {
  return data.config.seed ?? fallback ?? 0;
}

/** The data's image shape: an imported teacher takes NHWC images. */
function imageShape(ds: Dataset): [number, number, number] {
  if (ds.inputShape.length !== 3) {
    throw new KdqError(
      'E_CONFIG',
      `an imported teacher takes images, but the data is table rows [${ds.inputShape.join(', ')}] (source ${ds.source}); use a teacher with layers for tabular data`,
    );
  }
  return ds.inputShape as [number, number, number];
}

/** Up to this many examples go to the teacher in one call (as they always did); more, in blocks of this many. */
const TEACHER_BLOCK = 65_536;

/**
 * What an imported teacher is given: the pixels in [0, 1] (bytes / 255; float32 data as stored),
 * never the data's own mean, std or normalize, since the teacher applies its own preprocessing
 * (teacher.scale, mean, std) to exactly these values.
 */
function teacherInputs(ds: Dataset, split: Examples): ModelInputs {
  return modelInputs(split.x, ds.inputShape, ds.dtype, { scale: defaultScale(ds.source, ds.dtype), mean: null, std: null, normalize: 'none' });
}

/** The teacher's logits on every example of a split, converted a block at a time, so a large split never exists as floats whole. */
async function splitLogits(t: Teacher, ds: Dataset, split: Examples, onProgress?: TeacherProgress): Promise<Float32Array> {
  const inputs = teacherInputs(ds, split);
  if (split.count <= TEACHER_BLOCK) return t.logits(inputs.range(0, split.count), split.count, onProgress);
  const out = new Float32Array(split.count * t.classes);
  for (let start = 0; start < split.count; start += TEACHER_BLOCK) {
    const end = Math.min(split.count, start + TEACHER_BLOCK);
    const block = await t.logits(inputs.range(start, end), end - start, onProgress && ((done) => onProgress(start + done, split.count)));
    out.set(block, start * t.classes);
  }
  return out;
}

function teacherOptions(config: ImportedTeacherStageConfig, ds: Dataset): TeacherOptions {
  return {
    data: { imageShape: imageShape(ds), classes: ds.numClasses },
    // Left to the teacher module when it is the format's default, so its messages can say so.
    ...(config.inputLayout === DEFAULT_LAYOUT[config.format] ? {} : { inputLayout: config.inputLayout }),
    output: config.output,
    scale: config.scale,
    mean: config.mean,
    std: config.std,
  };
}

/** The model file of an imported teacher, absolute. */
export function teacherPath(services: StageServices, config: ImportedTeacherStageConfig): string {
  return resolve(services.env.baseDir, config.model);
}

/** An imported-teacher stage as a later stage reads it: its config and its output folder. */
export type ImportedTeacherInput = Pick<StageInput<ImportedTeacherStageConfig>, 'config' | 'dir'>;

/**
 * The teacher an imported-teacher stage stands for, opened in its runtime: the fine-tuned one in
 * the stage's folder, or the imported file as it is. Caller closes.
 */
export async function openStageTeacher(services: StageServices, teacher: ImportedTeacherInput, ds: Dataset): Promise<Teacher> {
  const { config } = teacher;
  if (config.format === 'tfjs-layers') await services.ensureBackend();
  const { openTeacher } = await import('../teacher/index.ts');
  const options = teacherOptions(config, ds);
  // A fine-tuned teacher was saved with logits out, whatever the file it came from ended in.
  if (config.training) return openTeacher(join(teacher.dir, FINE_TUNED_DIR, 'model.json'), { ...options, output: 'logits' });
  return openTeacher(teacherPath(services, config), options);
}

/**
 * Why kdq writes no .tflite of this teacher before even loading it, or null: only TF.js teachers
 * are networks kdq can write, and a .tflite takes the data's NHWC pixels as they are, so a
 * teacher with its own preprocessing would need it folded into its first layer.
 */
export function teacherExportBlocker(config: ImportedTeacherStageConfig): string | null {
  const own = NO_TFLITE[config.format];
  if (own) return own;
  const identity =
    config.inputLayout === 'nhwc' && config.scale === 1 && [config.mean].flat().every((m) => m === 0) && [config.std].flat().every((v) => v === 1);
  return identity
    ? null
    : "kdq writes a teacher's .tflite only when the teacher takes the data's NHWC pixels as they are, and this one has its own scale, mean or std";
}

/**
 * A TF.js teacher as a tf.js network with logits out, for the export: the fine-tuned one, or the
 * imported file with its final softmax made linear. Caller disposes.
 */
export async function importedTeacherModel(services: StageServices, teacher: ImportedTeacherInput): Promise<tf.LayersModel> {
  await services.ensureBackend();
  const { loadTfjsLogitsModel } = await import('../teacher/tfjs.ts');
  const path = teacher.config.training ? join(teacher.dir, FINE_TUNED_DIR, 'model.json') : teacherPath(services, teacher.config);
  return (await loadTfjsLogitsModel(path)).model;
}

const NO_TFLITE: Record<TeacherFormat, string | undefined> = {
  onnx: 'kdq writes .tflite files from TF.js models only, and this teacher is an ONNX model',
  tflite: 'the teacher is a .tflite file already',
  'tfjs-layers': undefined,
};

export function importedTeacherStage(services: StageServices): KdStageDefinition<'imported-teacher'> {
  return {
    kind: 'imported-teacher',
    version: 1,
    cacheable: true,
    // The files' sha256 (and the runtime) enter the key: editing a weight shard invalidates it.
    async fingerprint(config) {
      const { teacherIdentity, teacherKey } = await import('../teacher/identity.ts');
      const id = await teacherIdentity(teacherPath(services, config), config);
      const { details } = teacherKey(id);
      return Object.fromEntries(Object.entries(details).map(([k, v]) => [`teacher:${k}`, v]));
    },
    async run(ctx) {
      const { config } = ctx;
      const id = ctx.stage.id;
      const ds = await services.dataset(ctx.inputs.data, dataSeed(ctx.inputs.data, config.seed));
      if (config.format === 'tfjs-layers') await services.ensureBackend();
      const { openTeacher } = await import('../teacher/index.ts');
      const path = teacherPath(services, config);
      // Every check against the data happens here, before anything trains.
      const teacher = await openTeacher(path, teacherOptions(config, ds));
      let info: ImportedTeacherInfo;
      let logits: Float32Array;
      try {
        const bytes = teacher.files.reduce((n, f) => n + f.bytes, 0);
        ctx.log(
          `${id}: ${config.model} (${config.format}, ${teacher.files.length} file${teacher.files.length === 1 ? '' : 's'}, ${bytes} bytes` +
            `${teacher.params !== undefined ? `, ${teacher.params} parameters` : ''}) fits the data; it outputs ${teacher.outputKind} (${teacher.outputKindReason})`,
        );
        logits = await splitLogits(teacher, ds, ds.test);
        const importedAccuracy = accuracy(logits, ds.test.y, ds.numClasses);
        info = {
          format: config.format,
          file: config.model,
          files: teacher.files.length,
          bytes,
          sha256: teacher.files[0]!.sha256,
          ...(teacher.params !== undefined ? { params: teacher.params } : {}),
          runtime: teacher.runtime,
          output: teacher.outputKind,
          outputReason: teacher.outputKindReason,
          importedAccuracy,
          accuracy: importedAccuracy,
          per_class_accuracy: perClassAccuracy(logits, ds.test.y, ds.numClasses),
          test: ds.test.count,
          ...(NO_TFLITE[config.format] ? { noTflite: NO_TFLITE[config.format] } : {}),
        };
        ctx.log(`${id}: test accuracy ${(importedAccuracy * 100).toFixed(2)}% in ${teacher.runtime}`);
      } finally {
        teacher.close();
      }
      if (config.training) {
        logits = await fineTune(services, ctx.outDir, id, path, config, ds, (m) => ctx.log(m));
        info.accuracy = accuracy(logits, ds.test.y, ds.numClasses);
        info.per_class_accuracy = perClassAccuracy(logits, ds.test.y, ds.numClasses);
        info.fineTunedEpochs = config.training.epochs;
        ctx.log(`${id}: test accuracy after fine-tuning ${(info.accuracy * 100).toFixed(2)}%`);
      }
      await writeFloats(ctx.outDir, TEST_LOGITS, logits);
      await writeJson(ctx.outDir, TEACHER_INFO, info);
    },
  };
}

/**
 * Fine-tunes a TF.js teacher on the run's training images, as its own preprocessing expects them,
 * saves it (logits out) in `<outDir>/model` and returns its test logits.
 */
async function fineTune(
  services: StageServices,
  outDir: string,
  id: string,
  path: string,
  config: ImportedTeacherStageConfig,
  ds: Dataset,
  log: (m: string) => void,
): Promise<Float32Array> {
  const training = config.training!;
  await services.ensureBackend();
  const { loadTfjsLogitsModel } = await import('../teacher/tfjs.ts');
  const { saveLayersModel } = await import('../teacher/tfjs-files.ts');
  const { prepareInput } = await import('../teacher/input-shape.ts');
  const { resolveSettings } = await import('../teacher/settings.ts');
  const { trainModel } = await import('../train/train.ts');
  const { createProgress } = await import('../train/progress.ts');
  const { firstExamples } = await import('../data/subset.ts');
  const hwc = imageShape(ds);
  const [h, w, c] = hwc;
  const { model, softmaxRemoved } = await loadTfjsLogitsModel(path);
  try {
    const shape = model.inputs[0]!.shape;
    if (config.inputLayout !== 'nhwc' || shape.length !== 4 || shape[1] !== h || shape[2] !== w || shape[3] !== c) {
      throw new KdqError(
        'E_TEACHER',
        `teacher model '${config.model}' takes input [${shape.map((d) => d ?? 'batch').join(', ')}]; kdq fine-tunes teachers that take NHWC images ` +
          `[batch, ${h}, ${w}, ${c}]: remove teacher.training to distill from it as it is`,
      );
    }
    if (softmaxRemoved) log(`${id}: fine-tuning on logits: ${softmaxRemoved} is left out, as kdq trains every network on logits`);
    const { labels } = firstExamples(
      { labels: { array: ds.train.y, perImage: 1 } },
      ds.train.count,
      training.trainLimit ?? null,
      `${id}: training.trainLimit`,
    ) as { labels: Int32Array };
    const images = teacherInputs(ds, ds.train).range(0, labels.length);
    const settings = resolveSettings('tfjs-layers', teacherOptions(config, ds), config.model);
    const prepared = prepareInput(images, 0, labels.length, hwc, settings, 'image', new Float32Array(images.length));
    const history = await trainModel({
      model,
      examples: prepared,
      labels,
      inputShape: hwc,
      numClasses: ds.numClasses,
      config: training,
      seed: config.seed ?? 0,
      stage: id,
      ...createProgress({ stage: id, stream: services.env.progress }),
    });
    await saveLayersModel(model, join(outDir, FINE_TUNED_DIR));
    await writeJson(outDir, HISTORY_FILE, history);
  } finally {
    model.dispose();
  }
  const { openTeacher } = await import('../teacher/index.ts');
  const tuned = await openTeacher(join(outDir, FINE_TUNED_DIR, 'model.json'), { ...teacherOptions(config, ds), output: 'logits' });
  try {
    return await splitLogits(tuned, ds, ds.test);
  } finally {
    tuned.close();
  }
}

/** An imported teacher's logits on every training image, in its own runtime, in batches with progress. */
export async function importedSoftLabels(services: StageServices, teacher: ImportedTeacherInput, ds: Dataset, outDir: string, id: string): Promise<void> {
  const { imagesProgress } = await import('../teacher/progress.ts');
  const t = await openStageTeacher(services, teacher, ds);
  try {
    const logits = await splitLogits(t, ds, ds.train, imagesProgress({ stage: id, stream: services.env.progress }));
    await writeFloats(outDir, SOFT_LOGITS, logits);
  } finally {
    t.close();
  }
}

/** Whether a stage folder holds a fine-tuned teacher's training history. */
export async function hasHistory(dir: string): Promise<boolean> {
  return stat(join(dir, HISTORY_FILE)).then(
    () => true,
    () => false,
  );
}
