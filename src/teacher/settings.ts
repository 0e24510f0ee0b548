/** A teacher's settings with defaults filled in and checked against the data's channels. */
import { KdqError } from '../errors.ts';
import { TEACHER_INPUT_LAYOUTS, TEACHER_OUTPUTS, type TeacherFormat, type TeacherInputLayout } from '../names.ts';
import type { TeacherOptions, TeacherSettings } from './types.ts';

/** PyTorch exports NCHW; TensorFlow, TF.js and TFLite are NHWC. */
export const DEFAULT_LAYOUT: Record<TeacherFormat, TeacherInputLayout> = { onnx: 'nchw', 'tfjs-layers': 'nhwc', tflite: 'nhwc' };

export const DEFAULT_BATCH_SIZE = 256;

function perChannel(value: number | number[] | undefined, fallback: number, channels: number, key: string, path: string): number[] {
  const list = value === undefined ? [fallback] : Array.isArray(value) ? value : [value];
  if (list.length === 0 || !list.every((v) => typeof v === 'number' && Number.isFinite(v))) {
    throw new KdqError('E_CONFIG', `teacher '${path}': ${key} must be a number or a list of numbers, got ${JSON.stringify(value)}`);
  }
  if (list.length === 1) return new Array<number>(channels).fill(list[0]!);
  if (list.length !== channels) {
    throw new KdqError(
      'E_CONFIG',
      `teacher '${path}': ${key} has ${list.length} values but the images have ${channels} channel${channels === 1 ? '' : 's'}; give one value or ${channels}`,
    );
  }
  return [...list];
}

/** Defaults for `format`, with every value checked; throws E_CONFIG naming the teacher file and the key. */
export function resolveSettings(format: TeacherFormat, options: TeacherOptions, path: string): TeacherSettings {
  const channels = options.data.imageShape[2];
  const inputLayout = options.inputLayout ?? DEFAULT_LAYOUT[format];
  if (!TEACHER_INPUT_LAYOUTS.includes(inputLayout)) {
    throw new KdqError('E_CONFIG', `teacher '${path}': inputLayout '${String(inputLayout)}' is not one of ${TEACHER_INPUT_LAYOUTS.join(', ')}`);
  }
  const output = options.output ?? 'auto';
  if (!TEACHER_OUTPUTS.includes(output)) {
    throw new KdqError('E_CONFIG', `teacher '${path}': output '${String(output)}' is not one of ${TEACHER_OUTPUTS.join(', ')}`);
  }
  const scale = options.scale ?? 1;
  if (!(typeof scale === 'number' && Number.isFinite(scale) && scale > 0)) {
    throw new KdqError(
      'E_CONFIG',
      `teacher '${path}': scale must be a positive number (e.g. 255 for a model trained on pixels 0-255), got ${JSON.stringify(scale)}`,
    );
  }
  const mean = perChannel(options.mean, 0, channels, 'mean', path);
  const std = perChannel(options.std, 1, channels, 'std', path);
  const bad = std.findIndex((s) => !(s > 0));
  if (bad >= 0) throw new KdqError('E_CONFIG', `teacher '${path}': std must be positive, got ${std[bad]} for channel ${bad}`);
  return { inputLayout, output, scale, mean, std };
}

/** Images per runtime call, checked. */
export function resolveBatchSize(options: TeacherOptions, path: string): number {
  const b = options.batchSize ?? DEFAULT_BATCH_SIZE;
  if (!Number.isInteger(b) || b < 1) throw new KdqError('E_CONFIG', `teacher '${path}': batchSize must be a positive integer, got ${JSON.stringify(b)}`);
  return b;
}

/** ONNX Runtime's operator threads, checked. */
export function resolveThreads(options: TeacherOptions, path: string): number {
  const t = options.threads ?? 1;
  if (!Number.isInteger(t) || t < 1) throw new KdqError('E_CONFIG', `teacher '${path}': threads must be a positive integer, got ${JSON.stringify(t)}`);
  return t;
}
