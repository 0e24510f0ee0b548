/**
 * The three learning stages: `teacher` (cross-entropy), `student` (KD on the teacher's logits)
 * and `baseline` (the same student, seed and schedule, cross-entropy only). Each writes its
 * weights, its training history and its logits on the test set, so later stages can compare
 * models without rebuilding them.
 */
import type * as tf from '@tensorflow/tfjs';
import { writeFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SavedWeights } from '../models/weights.ts';
import { inputsOf, type Dataset } from '../data/dataset.ts';
import { exampleSize } from '../data/model-inputs.ts';
import { readFloats, readJson, writeFloats, writeJson, type StageServices } from './context.ts';
import type { StageContext } from '../pipeline/stage.ts';
import type { DataStageConfig, KdStageDefinition, ModelStage, ModelStageConfig } from './types.ts';
import { EVAL_FILE, HISTORY_FILE, SOFT_LOGITS, TEST_LOGITS, WEIGHTS_FILE, WEIGHTS_MANIFEST, type ModelEval } from './model-files.ts';

/** Rebuilds a model stage's network from its config and folder. Caller disposes. */
export async function loadModelStage(config: ModelStageConfig, dir: string, ds: Dataset, role: string): Promise<tf.LayersModel> {
  const { buildModel } = await import('../models/build.ts');
  const { loadWeights } = await import('../models/weights.ts');
  const model = buildModel(config.layers, ds.inputShape, config.seed, { role });
  const manifest = await readJson<SavedWeights['manifest']>(dir, WEIGHTS_MANIFEST);
  const data = new Uint8Array(await readFile(join(dir, WEIGHTS_FILE)));
  loadWeights(model, { manifest, data });
  return model;
}

/**
 * The learning stages' version. 2: fused conv/dense + relu kernels and the one-kernel Adam on wasm
 * (float32 rounding differs). 3: kdq's SIMD dense forward on wasm (another summation order than XNNPACK's).
 * 4: kdq's im2col convolutions (forward and filter gradient) on wasm replace XNNPACK's and the
 * zero-skipping filter gradient (another summation order). 5: 3x3 stride-1 convolutions with 8 or
 * more input channels (forward and input gradient) by Winograd F(2x2, 3x3) on wasm (another
 * rounding; networks whose convolutions all have fewer input channels, kd-mnist's, train to the
 * same bits as at 4).
 */
const LEARNING_VERSION = 5;

/**
 * Trains the stage's network and leaves its weights, history, test logits and accuracy in its
 * folder. The three learning stages differ only in their loss: given the soft labels' folder, KD.
 */
async function trainStage(deps: StageServices, ctx: StageContext<ModelStage, { data: DataStageConfig }>, softDir: string | null): Promise<void> {
  const { config } = ctx;
  await deps.ensureBackend();
  // tf.js is loaded only when a learning stage really runs: a fully cached run never pays for it.
  const { buildModel, modelSummary } = await import('../models/build.ts');
  const { saveWeights } = await import('../models/weights.ts');
  const { accuracy, perClassAccuracy, predictLogits, trainModel } = await import('../train/train.ts');
  const { createProgress } = await import('../train/progress.ts');
  const ds = await deps.dataset(ctx.inputs.data, config.seed);
  const role = ctx.stage.role;
  const model = buildModel(config.layers, ds.inputShape, config.seed, { role });
  try {
    const { firstExamples } = await import('../data/subset.ts');
    const allSoft = softDir === null ? undefined : await readFloats(softDir, SOFT_LOGITS);
    // The soft labels cover every training example; a trainLimit keeps the same first examples of both.
    const { examples, labels, soft } = firstExamples(
      {
        examples: { array: ds.train.x, perImage: exampleSize(ds.inputShape) },
        labels: { array: ds.train.y, perImage: 1 },
        ...(allSoft ? { soft: { array: allSoft, perImage: ds.numClasses } } : {}),
      },
      ds.train.count,
      config.training.trainLimit ?? null,
      `${ctx.stage.id}: training.trainLimit`,
    ) as { examples: Dataset['train']['x']; labels: Int32Array; soft?: Float32Array };
    const softLogits = soft;
    if (labels.length < ds.train.count) ctx.log(`${ctx.stage.id}: training on the first ${labels.length} of ${ds.train.count} training images`);
    const history = await trainModel({
      model,
      examples,
      labels,
      inputShape: ds.inputShape,
      dtype: ds.dtype,
      preprocessing: ds.preprocessing,
      numClasses: ds.numClasses,
      config: config.training,
      seed: config.seed,
      softLogits,
      distillation: allSoft && config.distillation ? { ...config.distillation, baseline: false } : undefined,
      // The held-out images (data.validationSplit): evaluated after every epoch, never trained on.
      validation: ds.validation ? { inputs: inputsOf(ds, ds.validation), labels: ds.validation.y } : undefined,
      stage: ctx.stage.id,
      spec: { layers: config.layers, seed: config.seed, role },
      // A live bar on a terminal, one line per epoch otherwise (CI, pipes).
      ...createProgress({ stage: ctx.stage.id, stream: deps.env.progress }),
    });
    const logits = predictLogits(model, inputsOf(ds, ds.test));
    const saved = saveWeights(model);
    await writeFile(join(ctx.outDir, WEIGHTS_FILE), saved.data);
    await writeJson(ctx.outDir, WEIGHTS_MANIFEST, saved.manifest);
    await writeFloats(ctx.outDir, TEST_LOGITS, logits);
    await writeJson(ctx.outDir, HISTORY_FILE, history);
    const ev: ModelEval = {
      params: modelSummary(model).params,
      accuracy: accuracy(logits, ds.test.y, ds.numClasses),
      per_class_accuracy: perClassAccuracy(logits, ds.test.y, ds.numClasses),
      test: ds.test.count,
    };
    await writeJson(ctx.outDir, EVAL_FILE, ev);
    ctx.log(`${ctx.stage.id}: test accuracy ${(ev.accuracy * 100).toFixed(2)}%`);
  } finally {
    model.dispose();
  }
}

export function teacherStage(deps: StageServices): KdStageDefinition<'teacher'> {
  return { kind: 'teacher', version: LEARNING_VERSION, cacheable: true, run: (ctx) => trainStage(deps, ctx, null) };
}
export function studentStage(deps: StageServices): KdStageDefinition<'student'> {
  return { kind: 'student', version: LEARNING_VERSION, cacheable: true, run: (ctx) => trainStage(deps, ctx, ctx.inputs.softLabels.dir) };
}
export function baselineStage(deps: StageServices): KdStageDefinition<'baseline'> {
  return { kind: 'baseline', version: LEARNING_VERSION, cacheable: true, run: (ctx) => trainStage(deps, ctx, null) };
}

/** The teacher's logits on the training set, computed once per teacher and dataset. */
export function softLabelsStage(deps: StageServices): KdStageDefinition<'soft-labels'> {
  return {
    kind: 'soft-labels',
    // 2: the teacher's forward pass runs through the fused layer kernels on wasm.
    // 3: ... and its dense layers through kdq's SIMD dense forward. 4: its convolutions through kdq's im2col kernels.
    // 5: its 3x3 stride-1 convolutions with 8 or more input channels by Winograd F(2x2, 3x3).
    version: 5,
    cacheable: true,
    async run(ctx) {
      const { teacher } = ctx.inputs;
      if ('model' in teacher.config) {
        // An imported teacher runs in its own runtime.
        const { importedSoftLabels } = await import('./imported-teacher.ts');
        const ds = await deps.dataset(ctx.inputs.data, ctx.inputs.data.config.seed ?? 0);
        await importedSoftLabels(deps, { config: teacher.config, dir: teacher.dir }, ds, ctx.outDir, ctx.stage.id);
        return;
      }
      await deps.ensureBackend();
      const { predictLogits } = await import('../train/predict.ts');
      const ds = await deps.dataset(ctx.inputs.data, teacher.config.seed);
      const model = await loadModelStage(teacher.config, teacher.dir, ds, 'teacher');
      try {
        // On the training examples as stored: never augmented.
        const logits = predictLogits(model, inputsOf(ds, ds.train));
        await writeFloats(ctx.outDir, SOFT_LOGITS, logits);
      } finally {
        model.dispose();
      }
    },
  };
}
