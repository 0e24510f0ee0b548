/**
 * model.json of a TF.js LayersModel read as plain JSON, without loading tf.js: what the cache key
 * and `kdq validate` need (the weight shards it lists, and their sizes).
 */
import type * as tf from '@tensorflow/tfjs';
import { KdqError } from '../errors.ts';

/** Bytes per element of each weight dtype as stored in a shard (after any quantization). */
const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, complex64: 8, uint8: 1, uint16: 2, float16: 2, int8: 1 };

/** Bytes a weight takes in its shard. */
export function specBytes(spec: tf.io.WeightsManifestEntry, jsonPath: string): number {
  const stored = spec.quantization?.dtype ?? spec.dtype;
  const per = DTYPE_BYTES[stored];
  if (per === undefined) {
    throw new KdqError(
      'E_TEACHER',
      `teacher model '${jsonPath}': weight "${spec.name}" has dtype ${stored}, which kdq cannot read; save the model with float32 weights`,
    );
  }
  return spec.shape.reduce((n, d) => n * d, 1) * per;
}

/** model.json as TF.js wrote it; throws E_TEACHER for anything that is not a LayersModel with weights. */
export function parseModelJson(bytes: Uint8Array, path: string): tf.io.ModelJSON {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch (err) {
    throw new KdqError(
      'E_TEACHER',
      `teacher model '${path}' is not valid JSON (${(err as Error).message}); the file is truncated or corrupt: save or copy it again`,
      { cause: err },
    );
  }
  const j = json as Partial<tf.io.ModelJSON> & { format?: string };
  if (j === null || typeof j !== 'object' || typeof j.modelTopology !== 'object' || j.modelTopology === null) {
    throw new KdqError(
      'E_TEACHER',
      `teacher model '${path}' is JSON without "modelTopology": it is not a TF.js model.json; point at the model.json that model.save() wrote`,
    );
  }
  const topology = j.modelTopology as { node?: unknown; model_config?: unknown; class_name?: unknown };
  if (j.format === 'graph-model' || Array.isArray(topology.node)) {
    throw new KdqError(
      'E_TEACHER',
      `teacher model '${path}' is a TF.js graph model (a converted SavedModel); kdq reads TF.js LayersModels: ` +
        'convert the Keras model with tensorflowjs_converter --output_format tfjs_layers_model, or convert the SavedModel to .tflite',
    );
  }
  if (!Array.isArray(j.weightsManifest)) {
    throw new KdqError('E_TEACHER', `teacher model '${path}' has no "weightsManifest": save the model with its weights (model.save writes both)`);
  }
  return j as tf.io.ModelJSON;
}
