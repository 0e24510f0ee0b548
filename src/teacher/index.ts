/**
 * Teachers trained elsewhere: `openTeacher(path, options)` detects the format from the file's
 * content (ONNX, TF.js LayersModel, .tflite), checks the model against the data before any use
 * (input shape and layout, class count, a readable file, operators the runtime can run) and
 * returns one interface for all three. Every problem with the file is a KdqError E_TEACHER
 * (exit 2) naming it; a bad setting is E_CONFIG.
 */
import { detectTeacherFormat } from './detect.ts';
import { readTeacherFile } from './files.ts';
import { openOnnxTeacher } from './onnx.ts';
import { openTfjsTeacher } from './tfjs.ts';
import { openTfliteTeacher } from './tflite.ts';
import type { Teacher, TeacherOptions } from './types.ts';

export type { Teacher, TeacherDataShape, TeacherFile, TeacherOptions, TeacherOutputKind, TeacherProgress, TeacherSettings, TfjsTeacher } from './types.ts';
export { teacherIdentity, teacherKey, type TeacherIdentity, type TeacherKeySettings } from './identity.ts';
export { saveLayersModel } from './tfjs-files.ts';
export { MIN_PROBABILITY, toLogProbabilities } from './output.ts';

/** Opens the teacher at `path` (a .onnx, a TF.js model.json or a .tflite) for the data in `options.data`. */
export async function openTeacher(path: string, options: TeacherOptions): Promise<Teacher> {
  const main = await readTeacherFile(path, path, 'teacher model');
  const format = detectTeacherFormat(main.bytes, path);
  if (format === 'onnx') return openOnnxTeacher(path, options, main);
  if (format === 'tfjs-layers') return openTfjsTeacher(path, options, main);
  return openTfliteTeacher(path, options, main);
}
