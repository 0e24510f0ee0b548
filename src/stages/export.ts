/**
 * `export`: writes one .tflite file from a model stage's weights: float32 (`mode: none`) or the
 * quantized student (`int8`, `dynamic-range`, `float16`), calibrated on training images.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { permutation, deriveSeed } from '../util/random.ts';
import { inputsOf } from '../data/dataset.ts';
import { describeInput } from '../data/input-description.ts';
import type { ModelInputs } from '../data/model-inputs.ts';
import { writeJson, type StageServices } from './context.ts';
import { loadModelStage } from './train.ts';
import { KdqError } from '../errors.ts';
import type * as tf from '@tensorflow/tfjs';
import type { ExportOptions } from '../tflite/export.ts';
import type { KdStageDefinition, ModelStageConfig } from './types.ts';

export const TFLITE_FILE = 'model.tflite';
export const EXPORT_INFO = 'export.json';

/** What an export stage records beside its file. */
export interface ExportInfo {
  mode: string;
  bytes: number;
  inputType: string;
  outputType: string;
}

/**
 * What an export stage records instead when kdq cannot write the file: an imported TF.js teacher
 * whose layers or preprocessing kdq's .tflite writer cannot express. Its evaluate stage then
 * evaluates nothing, and the report says why there is no file.
 */
export interface ExportSkipped {
  skipped: string;
}

/** Calibration inputs: a seeded sample of the training set (never the test set), converted as the model takes it. */
export function calibrationInputs(train: ModelInputs, count: number, seed: number): Float32Array {
  const take = Math.min(count, train.count);
  const order = permutation(train.count, deriveSeed(seed, 'calibration'));
  return train.gather(order, 0, take);
}

export function exportStage(services: StageServices): KdStageDefinition<'export'> {
  return {
    kind: 'export',
    // 2: tensor and signature names no longer depend on what the process built before; kdq's own description.
    // 3: the converter's operator versions for hybrid kernels (per-channel FULLY_CONNECTED v12) and min_runtime_version.
    // 4: an int8 MEAN keeps its input's parameters, so both TFLite runtimes compute the same bits.
    version: 4,
    cacheable: true,
    async run(ctx) {
      await services.ensureBackend();
      const { exportTflite } = await import('../tflite/export.ts');
      const { model: modelInput, data } = ctx.inputs;
      const ds = await services.dataset(data, modelInput.config.seed ?? data.config.seed ?? 0);
      const imported = 'model' in modelInput.config ? modelInput.config : null;
      const skip = async (reason: string): Promise<void> => {
        await writeJson(ctx.outDir, EXPORT_INFO, { skipped: reason } satisfies ExportSkipped);
        ctx.log(`${ctx.stage.id}: no .tflite: ${reason}`);
      };
      let model: tf.LayersModel;
      if (imported) {
        const { importedTeacherModel, teacherExportBlocker } = await import('./imported-teacher.ts');
        const blocker = teacherExportBlocker(imported);
        if (blocker) return skip(blocker);
        model = await importedTeacherModel(services, { config: imported, dir: modelInput.dir });
      } else {
        // The model's own role names its layers (and so the file's tensors), as when it was trained.
        model = await loadModelStage(modelInput.config as ModelStageConfig, modelInput.dir, ds, modelInput.role ?? modelInput.kind);
      }
      try {
        const q = ctx.config;
        const options: ExportOptions = {
          mode: q.mode === 'none' ? 'float32' : q.mode,
          inputShape: ds.inputShape,
          input: describeInput(ds),
          ...(q.mode !== 'none'
            ? {
                calibration: calibrationInputs(inputsOf(ds, ds.train), q.calibrationSamples, modelInput.config.seed ?? 0),
                calibrationMethod: q.calibration,
                percentile: q.percentile,
                perChannel: q.perChannel,
                inputType: q.mode === 'int8' ? q.inputType : 'float32',
                outputType: q.mode === 'int8' ? q.outputType : 'float32',
              }
            : {}),
        };
        let bytes: Uint8Array;
        try {
          bytes = exportTflite(model, options).bytes;
        } catch (e) {
          // kdq's own networks have only layers the writer knows; an imported one may have others.
          if (!imported || !(e instanceof KdqError) || e.code !== 'E_TFLITE') throw e;
          return skip(`kdq cannot write this teacher as .tflite: ${e.message}`);
        }
        await writeFile(join(ctx.outDir, TFLITE_FILE), bytes);
        const info: ExportInfo = {
          mode: q.mode === 'none' ? 'float32' : q.mode,
          bytes: bytes.byteLength,
          inputType: q.mode === 'int8' ? q.inputType : 'float32',
          outputType: q.mode === 'int8' ? q.outputType : 'float32',
        };
        await writeJson(ctx.outDir, EXPORT_INFO, info);
      } finally {
        model.dispose();
      }
    },
  };
}
