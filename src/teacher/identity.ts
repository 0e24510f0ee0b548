/**
 * What a teacher's cache key is made of, computed without loading a runtime: the format, the
 * sha256 of every file it reads (model.json and each shard; an ONNX model and its external data),
 * the settings that change its outputs, and the runtime that computes them. Editing a shard
 * changes the key; moving or renaming the folder does not; one imported teacher serves every
 * seed and sweep point whose settings agree.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { KdqError } from '../errors.ts';
import type { TeacherFormat } from '../names.ts';
import { canonicalJson } from '../pipeline/hash.ts';
import { runtimeVersion } from '../tflite/runtime/runtime-package.ts';
import { sha256Hex } from '../util/hash.ts';
import { detectTeacherFormat } from './detect.ts';
import { readTeacherFile } from './files.ts';
import { ProtoError, readOnnx } from './onnx-proto.ts';
import { DEFAULT_LAYOUT } from './settings.ts';
import { parseModelJson } from './model-json.ts';
import type { TeacherOptions } from './types.ts';

const require = createRequire(import.meta.url);

/** The settings of TeacherOptions that change the teacher's outputs (not `data`, not `batchSize`). */
export type TeacherKeySettings = Pick<TeacherOptions, 'inputLayout' | 'output' | 'scale' | 'mean' | 'std'>;

export interface TeacherIdentity {
  format: TeacherFormat;
  /** Names relative to the model file's folder, model file first. */
  files: { name: string; bytes: number; sha256: string }[];
  /** Defaults filled in; a list of equal per-channel values is written as one number. */
  settings: { inputLayout: string; output: string; scale: number; mean: number | number[]; std: number | number[] };
  /** e.g. `onnxruntime-node 1.31.1`; the tf.js backend of a TF.js teacher is in the stage key already. */
  runtime: string;
}

function oneOrList(v: number | number[] | undefined, fallback: number): number | number[] {
  if (v === undefined) return fallback;
  if (!Array.isArray(v)) return v;
  return v.length > 0 && v.every((x) => x === v[0]) ? v[0]! : [...v];
}

function runtimeOf(format: TeacherFormat): string {
  if (format === 'onnx') return `onnxruntime-node ${(require('onnxruntime-node/package.json') as { version: string }).version}`;
  if (format === 'tflite') return runtimeVersion('litert');
  // Read from package.json: the key is computed on every run, and a cached run must not load tf.js.
  return `@tensorflow/tfjs ${(require('@tensorflow/tfjs/package.json') as { version: string }).version}`;
}

/** Reads and hashes the teacher's files (no runtime is loaded) and resolves the key settings. */
export async function teacherIdentity(path: string, settings: TeacherKeySettings = {}): Promise<TeacherIdentity> {
  const main = await readTeacherFile(path, path, 'teacher model');
  const format = detectTeacherFormat(main.bytes, path);
  const others: string[] = [];
  if (format === 'onnx') {
    try {
      for (const i of readOnnx(main.bytes).initializers)
        if (i.externalLocation !== undefined && !others.includes(i.externalLocation)) others.push(i.externalLocation);
    } catch (err) {
      if (!(err instanceof ProtoError)) throw err;
      throw new KdqError('E_TEACHER', `teacher model '${path}' is not a readable ONNX model: ${err.message} (byte ${err.offset}); export or copy it again`, {
        cause: err,
      });
    }
  } else if (format === 'tfjs-layers') {
    for (const group of parseModelJson(main.bytes, path).weightsManifest) others.push(...group.paths);
  }
  const files = [main.file];
  for (const rel of others) files.push((await readTeacherFile(join(dirname(path), rel), path, `file of teacher model '${path}':`)).file);
  return {
    format,
    files: files.map(({ name, bytes, sha256 }) => ({ name, bytes, sha256 })),
    settings: {
      inputLayout: settings.inputLayout ?? DEFAULT_LAYOUT[format],
      output: settings.output ?? 'auto',
      scale: settings.scale ?? 1,
      mean: oneOrList(settings.mean, 0),
      std: oneOrList(settings.std, 1),
    },
    runtime: runtimeOf(format),
  };
}

/** The key: sha256 of the canonical JSON of the identity, with one hash per part for `--explain`. */
export function teacherKey(id: TeacherIdentity): { value: string; details: Record<string, string> } {
  const details: Record<string, string> = {
    format: sha256Hex(id.format),
    settings: sha256Hex(canonicalJson(id.settings)),
    runtime: sha256Hex(id.runtime),
  };
  for (const f of id.files) details[`file:${f.name}`] = f.sha256;
  return { value: sha256Hex(canonicalJson(id)), details };
}
