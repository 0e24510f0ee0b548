/**
 * A TF.js LayersModel on disk: `model.json` (the topology and a weights manifest) and the binary
 * weight shards the manifest lists, relative to model.json's folder. This is the format
 * `model.save('file://...')` in tfjs-node and `tensorflowjs_converter --output_format tfjs_layers_model`
 * write. kdq reads it without tfjs-node (not installable everywhere) and writes it the same way.
 */
import * as tf from '@tensorflow/tfjs';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { KdqError } from '../errors.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import { readTeacherFile, type ReadTeacherFile } from './files.ts';
import { parseModelJson, specBytes } from './model-json.ts';
import type { TeacherFile } from './types.ts';

export { parseModelJson } from './model-json.ts';

export interface LayersModelFiles {
  /** model.json first, then the shards in manifest order. */
  files: TeacherFile[];
  artifacts: tf.io.ModelArtifacts;
  json: tf.io.ModelJSON;
}

/**
 * Reads model.json (unless `main` holds it already) and every shard, checking that each group's
 * shards hold exactly its weights.
 */
export async function readLayersModelFiles(jsonPath: string, main?: ReadTeacherFile): Promise<LayersModelFiles> {
  const { bytes, file } = main ?? (await readTeacherFile(jsonPath, jsonPath, 'teacher model'));
  const json = parseModelJson(bytes, jsonPath);
  const files: TeacherFile[] = [file];
  const weightSpecs: tf.io.WeightsManifestEntry[] = [];
  const buffers: ArrayBuffer[] = [];
  for (const group of json.weightsManifest) {
    const shards: ReadTeacherFile[] = [];
    for (const p of group.paths) {
      const shard = await readTeacherFile(join(dirname(jsonPath), p), jsonPath, `weight shard of teacher model '${jsonPath}':`);
      files.push(shard.file);
      shards.push(shard);
    }
    const want = group.weights.reduce((n, w) => n + specBytes(w, jsonPath), 0);
    const got = shards.reduce((n, s) => n + s.bytes.length, 0);
    if (got !== want) {
      throw new KdqError(
        'E_TEACHER',
        `the weight shards of teacher model '${jsonPath}' (${group.paths.map((p, i) => `${p}: ${shards[i]!.bytes.length} bytes`).join(', ')}) ` +
          `hold ${got} bytes but its weightsManifest lists ${want}; a shard is truncated, corrupt or from another save: copy the model folder again`,
      );
    }
    weightSpecs.push(...group.weights);
    for (const s of shards) buffers.push(s.bytes.slice().buffer);
  }
  const artifacts: tf.io.ModelArtifacts = {
    modelTopology: json.modelTopology,
    format: json.format,
    generatedBy: json.generatedBy,
    convertedBy: json.convertedBy,
    weightSpecs,
    weightData: tf.io.CompositeArrayBuffer.join(buffers),
  };
  if (json.trainingConfig) artifacts.trainingConfig = json.trainingConfig;
  if (json.userDefinedMetadata) artifacts.userDefinedMetadata = json.userDefinedMetadata;
  return { files, artifacts, json };
}

/**
 * Saves `model` as `dir/model.json` and `dir/group1-shard{i}of{k}.bin`, split at `shardBytes`
 * (tensorflowjs_converter's default is 4 MB), each file written atomically.
 */
export async function saveLayersModel(model: tf.LayersModel, dir: string, opts: { shardBytes?: number } = {}): Promise<tf.io.SaveResult> {
  const shardBytes = opts.shardBytes ?? 4 * 1024 * 1024;
  return model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      await mkdir(dir, { recursive: true });
      const data = new Uint8Array(tf.io.CompositeArrayBuffer.join(artifacts.weightData));
      const k = Math.max(1, Math.ceil(data.length / shardBytes));
      const paths: string[] = [];
      for (let i = 0; i < k; i++) {
        const name = `group1-shard${i + 1}of${k}.bin`;
        paths.push(name);
        await writeFileAtomic(join(dir, name), data.subarray(i * shardBytes, Math.min(data.length, (i + 1) * shardBytes)));
      }
      const json: tf.io.ModelJSON = {
        modelTopology: artifacts.modelTopology!,
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy ?? `TensorFlow.js tfjs-layers v${tf.version.tfjs}`,
        convertedBy: artifacts.convertedBy ?? null,
        weightsManifest: [{ paths, weights: artifacts.weightSpecs ?? [] }],
      };
      if (artifacts.trainingConfig) json.trainingConfig = artifacts.trainingConfig;
      await writeFileAtomic(join(dir, 'model.json'), JSON.stringify(json));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON', weightDataBytes: data.length } };
    }),
  );
}
