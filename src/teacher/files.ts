/** Reads a teacher's files once, with the sha256 of each (the teacher's cache key is made of them). */
import { readFile } from 'node:fs/promises';
import { basename, dirname, relative, resolve } from 'node:path';
import { KdqError } from '../errors.ts';
import { sha256Hex } from '../util/hash.ts';
import type { TeacherFile } from './types.ts';

export interface ReadTeacherFile {
  file: TeacherFile;
  bytes: Uint8Array;
}

/**
 * Reads `path`. `modelPath` is the teacher's main file, whose folder names the others; `role`
 * says in errors what the file is (`teacher model`, `weight shard of ...`).
 */
export async function readTeacherFile(path: string, modelPath: string, role: string): Promise<ReadTeacherFile> {
  const abs = resolve(path);
  let buf: Buffer;
  try {
    buf = await readFile(abs);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const what =
      code === 'ENOENT'
        ? 'does not exist'
        : code === 'EISDIR'
          ? 'is a folder, not a file: point at the model file itself (the .onnx, the .tflite, or model.json of a TF.js model); ' +
            'a TensorFlow SavedModel folder must first be converted to TF.js or .tflite'
          : `cannot be read (${code ?? (err as Error).message})`;
    throw new KdqError('E_TEACHER', `${role} '${path}' ${what}`, { cause: err });
  }
  const bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  const base = dirname(resolve(modelPath));
  const rel = relative(base, abs);
  return {
    bytes,
    file: { path: abs, name: rel === '' ? basename(abs) : rel.split('\\').join('/'), bytes: bytes.length, sha256: sha256Hex(bytes) },
  };
}
