/**
 * The three learning stages: `teacher` (cross-entropy), `student` (KD on the teacher's logits)
 * and `baseline` (the same student, seed and schedule, cross-entropy only). Each writes its
 * weights, its training history and its logits on the test set, so later stages can compare
 * models without rebuilding them.
 */
import type * as tf from '@tensorflow/tfjs';
import { writeFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DistillationConfig, LayerSpec, TrainingConfig } from '../config/types.ts';
import type { SavedWeights } from '../models/weights.ts';
import type { StageDefinition } from '../pipeline/stage.ts';
import type { StageKind } from '../names.ts';
import type { Dataset } from '../data/dataset.ts';
import { inputOf, readFloats, readJson, writeFloats, writeJson, type StageServices } from './context.ts';

export interface ModelStageConfig {
  layers: LayerSpec[];
  training: TrainingConfig;
  seed: number;
  /** `student` only. */
  distillation?: Omit<DistillationConfig, 'baseline'>;
}

/** What a model stage leaves in its folder besides the weights. */
export interface ModelEval {
  params: number;
  /** tf.js accuracy on the test set. */
  accuracy: number;
  per_class_accuracy: (number | null)[];
  test: number;
}

export const WEIGHTS_FILE = 'weights.bin';
export const WEIGHTS_MANIFEST = 'weights.json';
export const TEST_LOGITS = 'test-logits.f32';
export const EVAL_FILE = 'eval.json';
export const HISTORY_FILE = 'history.json';

export function imageShape(ds: Dataset): [number, number, number] {
  return [ds.height, ds.width, ds.channels];
}

/** Rebuilds a model stage's network from its config and folder. Caller disposes. */
export async function loadModelStage(config: ModelStageConfig, dir: string, ds: Dataset, role: string): Promise<tf.Sequential> {
  const { buildModel } = await import('../models/build.ts');
  const { loadWeights } = await import('../models/weights.ts');
  const model = buildModel(config.layers, imageShape(ds), config.seed, { role });
  const manifest = await readJson<SavedWeights['manifest']>(dir, WEIGHTS_MANIFEST);
  const data = new Uint8Array(await readFile(join(dir, WEIGHTS_FILE)));
  loadWeights(model, { manifest, data });
  return model;
}

function learningStage(kind: Extract<StageKind, 'teacher' | 'student' | 'baseline'>, deps: StageServices): StageDefinition<ModelStageConfig> {
  return {
    kind,
    // 2: fused conv/dense + relu kernels and the one-kernel Adam on wasm (float32 rounding differs).
    // 3: kdq's SIMD dense forward on wasm (another summation order than XNNPACK's).
    version: 3,
    cacheable: true,
    async run(ctx) {
      const { config } = ctx;
      await deps.ensureBackend();
      // tf.js is loaded only when a learning stage really runs: a fully cached run never pays for it.
      const { buildModel, modelSummary } = await import('../models/build.ts');
      const { saveWeights } = await import('../models/weights.ts');
      const { accuracy, perClassAccuracy, predictLogits, trainModel } = await import('../train/train.ts');
      const { createProgress } = await import('../train/progress.ts');
      const ds = await deps.dataset(ctx.stage, config.seed);
      const role = ctx.stage.role ?? kind;
      const model = buildModel(config.layers, imageShape(ds), config.seed, { role });
      try {
        const { firstExamples } = await import('../data/subset.ts');
        const [h, w, c] = imageShape(ds);
        const allSoft = kind === 'student' ? await readFloats(inputOf(ctx.inputs, 'soft-labels'), 'logits.f32') : undefined;
        // The soft labels cover every training image; a trainLimit keeps the same first images of both.
        const { images, labels, soft } = firstExamples(
          {
            images: { array: ds.trainImages, perImage: h * w * c },
            labels: { array: ds.trainLabels, perImage: 1 },
            ...(allSoft ? { soft: { array: allSoft, perImage: ds.numClasses } } : {}),
          },
          ds.trainLabels.length,
          config.training.trainLimit ?? null,
          `${ctx.stage.id}: training.trainLimit`,
        ) as { images: Float32Array; labels: Uint8Array; soft?: Float32Array };
        const softLogits = soft;
        if (images.length < ds.trainImages.length) ctx.log(`${ctx.stage.id}: training on the first ${labels.length} of ${ds.trainLabels.length} training images`);
        const history = await trainModel({
          model,
          images,
          labels,
          imageShape: imageShape(ds),
          numClasses: ds.numClasses,
          config: config.training,
          seed: config.seed,
          softLogits,
          distillation: kind === 'student' ? { ...config.distillation!, baseline: false } : undefined,
          stage: ctx.stage.id,
          spec: { layers: config.layers, seed: config.seed, role },
          // A live bar on a terminal, one line per epoch otherwise (CI, pipes).
          ...createProgress({ stage: ctx.stage.id, stream: deps.env.progress }),
        });
        const logits = predictLogits(model, ds.testImages, imageShape(ds));
        const saved = saveWeights(model);
        await writeFile(join(ctx.outDir, WEIGHTS_FILE), saved.data);
        await writeJson(ctx.outDir, WEIGHTS_MANIFEST, saved.manifest);
        await writeFloats(ctx.outDir, TEST_LOGITS, logits);
        await writeJson(ctx.outDir, HISTORY_FILE, history);
        const ev: ModelEval = {
          params: modelSummary(model).params,
          accuracy: accuracy(logits, ds.testLabels, ds.numClasses),
          per_class_accuracy: perClassAccuracy(logits, ds.testLabels, ds.numClasses),
          test: ds.testLabels.length,
        };
        await writeJson(ctx.outDir, EVAL_FILE, ev);
        ctx.log(`${ctx.stage.id}: test accuracy ${(ev.accuracy * 100).toFixed(2)}%`);
      } finally {
        model.dispose();
      }
    },
  };
}

export function teacherStage(deps: StageServices): StageDefinition<ModelStageConfig> {
  return learningStage('teacher', deps);
}
export function studentStage(deps: StageServices): StageDefinition<ModelStageConfig> {
  return learningStage('student', deps);
}
export function baselineStage(deps: StageServices): StageDefinition<ModelStageConfig> {
  return learningStage('baseline', deps);
}

/** The teacher's logits on the training set, computed once per teacher and dataset. */
export function softLabelsStage(deps: StageServices): StageDefinition<Record<string, never>> {
  return {
    kind: 'soft-labels',
    // 2: the teacher's forward pass runs through the fused layer kernels on wasm.
    // 3: ... and its dense layers through kdq's SIMD dense forward.
    version: 3,
    cacheable: true,
    async run(ctx) {
      await deps.ensureBackend();
      const { predictLogits } = await import('../train/predict.ts');
      const teacher = deps.upstream(ctx.stage, 'teacher');
      const teacherCfg = teacher.config as ModelStageConfig;
      const ds = await deps.dataset(ctx.stage, teacherCfg.seed);
      const model = await loadModelStage(teacherCfg, ctx.inputs[teacher.id], ds, 'teacher');
      try {
        const logits = predictLogits(model, ds.trainImages, imageShape(ds));
        await writeFloats(ctx.outDir, 'logits.f32', logits);
      } finally {
        model.dispose();
      }
    },
  };
}
