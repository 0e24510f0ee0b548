/**
 * `export`: writes one .tflite file from a model stage's weights: float32 (`mode: none`) or the
 * quantized student (`int8`, `dynamic-range`, `float16`), calibrated on training images.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { QuantizationConfig } from '../config/types.ts';
import type { StageDefinition } from '../pipeline/stage.ts';
import type { ExportStageConfig } from '../pipeline/plan.ts';
import { permutation, deriveSeed } from '../util/random.ts';
import { writeJson, type StageServices } from './context.ts';
import { imageShape, loadModelStage, type ModelStageConfig } from './train.ts';

export const TFLITE_FILE = 'model.tflite';
export const EXPORT_INFO = 'export.json';

/** What an export stage records beside its file. */
export interface ExportInfo {
  mode: string;
  bytes: number;
  inputType: string;
  outputType: string;
}

/** Calibration images: a seeded sample of the training set (never the test set). */
export function calibrationImages(train: Float32Array, pixels: number, count: number, seed: number): Float32Array {
  const n = train.length / pixels;
  const take = Math.min(count, n);
  const order = permutation(n, deriveSeed(seed, 'calibration'));
  const out = new Float32Array(take * pixels);
  for (let i = 0; i < take; i++) out.set(train.subarray(order[i] * pixels, (order[i] + 1) * pixels), i * pixels);
  return out;
}

export function exportStage(services: StageServices): StageDefinition<ExportStageConfig> {
  return {
    kind: 'export',
    // 2: tensor and signature names no longer depend on what the process built before; kdq's own description.
    version: 2,
    cacheable: true,
    async run(ctx) {
      await services.ensureBackend();
      const { exportTflite } = await import('../tflite/export.ts');
      const modelStage = services.upstream(ctx.stage, ctx.stage.role === 'teacher' ? 'teacher' : ctx.stage.role === 'student_baseline' ? 'baseline' : 'student');
      const modelCfg = modelStage.config as ModelStageConfig;
      const ds = await services.dataset(ctx.stage, modelCfg.seed);
      const model = await loadModelStage(modelCfg, ctx.inputs[modelStage.id], ds, modelStage.role ?? modelStage.kind);
      try {
        const q = ctx.config as unknown as Partial<QuantizationConfig> & { mode: ExportStageConfig['mode'] };
        const quantized = q.mode !== 'none';
        const shape = imageShape(ds);
        const pixels = shape[0] * shape[1] * shape[2];
        const { bytes } = exportTflite(model, {
          mode: quantized ? q.mode : 'float32',
          inputShape: shape,
          ...(quantized
            ? {
                calibration: calibrationImages(ds.trainImages, pixels, q.calibrationSamples ?? 100, modelCfg.seed),
                calibrationMethod: q.calibration,
                percentile: q.percentile,
                perChannel: q.perChannel,
                inputType: q.mode === 'int8' ? q.inputType : 'float32',
                outputType: q.mode === 'int8' ? q.outputType : 'float32',
              }
            : {}),
        });
        await writeFile(join(ctx.outDir, TFLITE_FILE), bytes);
        const info: ExportInfo = {
          mode: quantized ? q.mode : 'float32',
          bytes: bytes.byteLength,
          inputType: q.mode === 'int8' ? (q.inputType ?? 'float32') : 'float32',
          outputType: q.mode === 'int8' ? (q.outputType ?? 'float32') : 'float32',
        };
        await writeJson(ctx.outDir, EXPORT_INFO, info);
      } finally {
        model.dispose();
      }
    },
  };
}
