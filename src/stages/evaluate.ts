/**
 * `evaluate`: runs an exported .tflite file on the whole test set in every official TFLite runtime
 * kdq has (not an interpreter of kdq's own), fails when they disagree beyond what the file's mode
 * explains, and compares the primary runtime's top-1 predictions with the float models.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { inputsOf } from '../data/dataset.ts';
import { KdqError } from '../errors.ts';
import type { RuntimeName, RuntimeOutcome } from '../tflite/runtime/index.ts';
import { argmaxRows, confusionFromPredictions } from '../train/metrics.ts';
import { readFloats, readJson, writeJson, type StageServices } from './context.ts';
import { EXPORT_INFO, TFLITE_FILE, type ExportInfo, type ExportSkipped } from './export.ts';
import { TEST_LOGITS } from './model-files.ts';
import type { KdStageDefinition } from './types.ts';

export const EVALUATION_FILE = 'evaluation.json';
export const PREDICTIONS_FILE = 'predictions.u8';

export interface Evaluation {
  accuracy: number;
  bytes: number;
  /** Keyed by role: `teacher`, `student`. */
  agreement: Record<string, number>;
  latencyMsPerImage: number;
  runtime: string;
  runtimeVersion: string;
  mode: string;
  inputType: string;
  outputType: string;
  /** `confusion[label][predicted]` over the test set, from the runtime's top-1 predictions. */
  confusion: number[][];
  /** Every runtime's accuracy (or refusal), the primary one (`runtime`) first. */
  runtimes: RuntimeOutcome[];
}

/** What an evaluate stage records when its export wrote no file (see ExportSkipped). */
export interface EvaluationSkipped {
  skipped: string;
}

/**
 * The primary runtime, whose numbers are the file's accuracy and agreement: LiteRT.js, Google's
 * current runtime (int8 and uint8 I/O included, through its lower-level tensor buffers). Every
 * other runtime runs the file too and must agree with it (src/tflite/runtime/cross-check.ts).
 */
export const EVALUATION_RUNTIME: RuntimeName = 'litert';

export function evaluateStage(services: StageServices): KdStageDefinition<'evaluate'> {
  return {
    kind: 'evaluate',
    // 2: evaluation.json carries the confusion matrix. 3: every runtime, and their agreement checked.
    version: 3,
    cacheable: true,
    async run(ctx) {
      const exportDir = ctx.inputs.export.dir;
      const info = await readJson<ExportInfo | ExportSkipped>(exportDir, EXPORT_INFO);
      if ('skipped' in info) {
        await writeJson(ctx.outDir, EVALUATION_FILE, { skipped: info.skipped } satisfies EvaluationSkipped);
        return;
      }
      const bytes = new Uint8Array(await readFile(join(exportDir, TFLITE_FILE)));
      const seed = ctx.stage.seed ?? 1;
      const ds = await services.dataset(ctx.inputs.data, seed);
      const reference: Record<string, Uint8Array> = {};
      for (const role of ctx.config.compareWith) {
        const model = ctx.inputs[role];
        if (!model) throw new KdqError('E_INTERNAL', `stage ${ctx.stage.id} compares with the ${role} but was planned without that input`);
        const logits = await readFloats(model.dir, TEST_LOGITS);
        reference[role] = Uint8Array.from(argmaxRows(logits, ds.numClasses));
      }
      const { evaluateInEveryRuntime } = await import('../tflite/runtime/index.ts');
      const { primary: r, runtimes } = await evaluateInEveryRuntime(
        bytes,
        { images: inputsOf(ds, ds.test), labels: ds.test.y, imageShape: ds.inputShape },
        { primary: EVALUATION_RUNTIME, mode: info.mode, file: `${join(exportDir, TFLITE_FILE)} (${ctx.stage.role})`, reference },
      );
      await writeFile(join(ctx.outDir, PREDICTIONS_FILE), r.predictions);
      const ev: Evaluation = {
        accuracy: r.accuracy,
        bytes: bytes.byteLength,
        agreement: r.agreement,
        latencyMsPerImage: r.latencyMsPerImage,
        runtime: r.runtime,
        runtimeVersion: r.runtimeVersion,
        mode: info.mode,
        inputType: info.inputType,
        outputType: info.outputType,
        confusion: confusionFromPredictions(r.predictions, ds.test.y, ds.numClasses),
        runtimes,
      };
      await writeJson(ctx.outDir, EVALUATION_FILE, ev);
      const others = runtimes.slice(1).map((o) => (o.status === 'ran' ? `${(o.accuracy * 100).toFixed(2)}% in ${o.runtime}` : `refused by ${o.runtime}`));
      ctx.log(`${ctx.stage.id}: ${(r.accuracy * 100).toFixed(2)}% in ${r.runtime}${others.map((o) => `, ${o}`).join('')}, ${bytes.byteLength} bytes`);
    },
  };
}
