/**
 * `teacher.model`: a teacher trained elsewhere, checked as far as can be without loading a runtime
 * (the file exists, its format is one kdq reads, a TF.js model's weight shards are all there), so
 * that `kdq validate` reports these at the key. What needs the data and the runtime (input shape,
 * class count, operators) is checked by the imported-teacher stage before any training.
 */
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { KdqError } from '../errors.ts';
import type { TeacherFormat } from '../names.ts';
import { detectTeacherFormat } from '../teacher/detect.ts';
import { parseModelJson, specBytes } from '../teacher/model-json.ts';
import { DEFAULT_LAYOUT } from '../teacher/settings.ts';
import type { PathIssue } from './messages.ts';
import { isPlainObject } from './merge.ts';
import type { Experiment, ImportedTeacherConfig, LayerSpec, TeacherConfig } from './types.ts';

/** Keys that only an imported teacher has. */
const IMPORT_KEYS = ['inputLayout', 'output', 'scale', 'mean', 'std'] as const;
/** Bytes that tell the formats apart (detect.ts looks at most at the first 8 and the first non-blank one). */
const HEAD_BYTES = 4096;

export function isImportedTeacher(t: TeacherConfig): t is ImportedTeacherConfig {
  return 'model' in t && typeof t.model === 'string';
}

/** The layers kdq builds for a role: none for an imported teacher. */
export function layersOf(m: TeacherConfig): LayerSpec[] {
  return isImportedTeacher(m) ? [] : m.layers;
}

/** Whether an imported teacher is fine-tuned on the run's data before distillation. */
export function isFineTuned(t: ImportedTeacherConfig): boolean {
  return t.training.epochs > 0;
}

function readHead(abs: string): Uint8Array {
  const fd = openSync(abs, 'r');
  try {
    const buf = Buffer.alloc(HEAD_BYTES);
    const n = readSync(fd, buf, 0, HEAD_BYTES, 0);
    return new Uint8Array(buf.buffer, buf.byteOffset, n);
  } finally {
    closeSync(fd);
  }
}

/**
 * The format of the teacher file at `abs` (`written` is the path as the file wrote it, for
 * messages), checked without a runtime: it exists and is a file, its content is one of the three
 * formats, and for a TF.js model every weight shard exists with the size its manifest says.
 * Throws KdqError E_TEACHER with the message a user sees.
 */
export function checkTeacherFile(abs: string, written: string): TeacherFormat {
  let size: number;
  try {
    const st = statSync(abs);
    if (st.isDirectory()) {
      throw new KdqError(
        'E_TEACHER',
        `'${written}' is a folder, not a file: point at the model file itself (the .onnx, the .tflite, or model.json of a TF.js model)`,
      );
    }
    size = st.size;
  } catch (err) {
    if (err instanceof KdqError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new KdqError(
      'E_TEACHER',
      code === 'ENOENT'
        ? `file '${written}' does not exist (looked for ${abs}); paths are relative to the experiment file that names them`
        : `file '${written}' cannot be read (${code ?? (err as Error).message})`,
    );
  }
  const format = detectTeacherFormat(size === 0 ? new Uint8Array(0) : readHead(abs), written);
  if (format === 'tfjs-layers') {
    const json = parseModelJson(new Uint8Array(readFileSync(abs)), written);
    for (const group of json.weightsManifest) {
      const want = group.weights.reduce((n, w) => n + specBytes(w, written), 0);
      let got = 0;
      for (const p of group.paths) {
        const shard = join(dirname(abs), p);
        try {
          got += statSync(shard).size;
        } catch {
          throw new KdqError(
            'E_TEACHER',
            `weight shard '${p}' of teacher model '${written}' does not exist (looked for ${shard}); copy the whole model folder`,
          );
        }
      }
      if (got !== want) {
        throw new KdqError(
          'E_TEACHER',
          `the weight shards of teacher model '${written}' (${group.paths.join(', ')}) hold ${got} bytes but its weightsManifest lists ${want}; ` +
            'a shard is truncated or from another save: copy the model folder again',
        );
      }
    }
  }
  return format;
}

export interface TeacherCheckContext {
  /** The merged document before defaults (to see what the user actually wrote). */
  raw: unknown;
  /** Absolute path of `teacher.model`, resolved from the file that wrote it. */
  resolveTeacherModel(value: string): string;
}

/** The semantic checks of `teacher`: layers or model, never both, and an imported teacher's file and settings. */
export function checkTeacher(exp: Experiment, ctx: TeacherCheckContext): PathIssue[] {
  const issues: PathIssue[] = [];
  const add = (path: (string | number)[], message: string, prefer: 'key' | 'value' = 'value'): void => {
    issues.push({ path, message, prefer });
  };
  const raw = isPlainObject(ctx.raw) && isPlainObject(ctx.raw.teacher) ? ctx.raw.teacher : {};
  if (raw.layers !== undefined && raw.model !== undefined) {
    add(
      ['teacher', 'model'],
      "'model' and 'layers' exclude each other: give layers for a teacher kdq trains, or model for one trained elsewhere, not both " +
        '(a file that extends one with layers cannot switch to model; copy the base instead)',
      'key',
    );
    return issues;
  }
  const teacher = exp.teacher;
  if (!isImportedTeacher(teacher)) {
    for (const key of IMPORT_KEYS) {
      if (raw[key] !== undefined) {
        add(
          ['teacher', key],
          `'${key}' is a setting of an imported teacher (teacher.model); a teacher trained from layers sees the data as it is: remove it`,
          'key',
        );
      }
    }
    return issues;
  }
  let format: TeacherFormat;
  try {
    format = checkTeacherFile(ctx.resolveTeacherModel(teacher.model), teacher.model);
  } catch (err) {
    if (!(err instanceof KdqError)) throw err;
    add(['teacher', 'model'], err.message);
    return issues;
  }
  const rawTraining = isPlainObject(raw.training) ? raw.training : undefined;
  if (isFineTuned(teacher)) {
    if (format !== 'tfjs-layers') {
      add(
        ['teacher', 'training', 'epochs'],
        `only a TF.js teacher can be fine-tuned, and '${teacher.model}' is ${format === 'onnx' ? 'an ONNX model' : 'a .tflite file'}: ` +
          'remove teacher.training to distill from it as it is, or fine-tune it where it was trained',
      );
    }
    if ((teacher.training.threads ?? 1) > 1) {
      add(['teacher', 'training', 'threads'], 'an imported teacher is fine-tuned on one thread; remove threads');
    }
  } else if (rawTraining !== undefined) {
    add(
      ['teacher', 'training'],
      'without epochs an imported teacher is used as it is, so these training settings do nothing: add epochs: N to fine-tune it (TF.js teachers), or remove training',
      'key',
    );
  }
  return issues;
}

/**
 * Completes an imported teacher once its checks passed: the format read from the file, the
 * format's input layout when none is written (so writing the default and leaving it out give the
 * same stage keys), and the path restated relative to the experiment's folder.
 */
export function completeImportedTeacher(t: ImportedTeacherConfig, abs: string, experimentDir: string): void {
  const format = checkTeacherFile(abs, t.model);
  t.format = format;
  t.inputLayout ??= DEFAULT_LAYOUT[format];
  if (resolve(experimentDir, t.model) !== abs) t.model = relative(experimentDir, abs);
}
