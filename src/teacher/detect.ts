/**
 * Which format a teacher file is, from its content rather than its name: a .tflite flatbuffer
 * carries the identifier `TFL3` at bytes 4-8, a TF.js LayersModel is a JSON object with
 * `modelTopology` and `weightsManifest`, and an ONNX model is a protobuf ModelProto that starts
 * with its ir_version (field 1, key byte 0x08) as every exporter writes it. Files people often
 * mistake for one of these (a PyTorch checkpoint, a Keras .h5, a TF.js graph model) get an error
 * that says what to export instead.
 */
import { KdqError } from '../errors.ts';
import type { TeacherFormat } from '../names.ts';

const TFLITE_IDENTIFIER = 'TFL3';
/** Protobuf key of ModelProto.ir_version: field 1, wire type varint. */
const ONNX_FIRST_KEY = 0x08;

function ascii(bytes: Uint8Array, start: number, end: number): string {
  return String.fromCharCode(...bytes.subarray(start, Math.min(end, bytes.length)));
}

const FORMATS_TEXT = 'an ONNX model (.onnx), a TF.js LayersModel (model.json) or a .tflite file';

/** The first non-blank character, skipping a UTF-8 byte order mark. */
function firstChar(bytes: Uint8Array): string {
  let i = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  while (i < bytes.length && (bytes[i] === 0x20 || bytes[i] === 0x0a || bytes[i] === 0x0d || bytes[i] === 0x09)) i++;
  return i < bytes.length ? String.fromCharCode(bytes[i]!) : '';
}

/** What a file that is none of the three formats looks like, when kdq can tell. */
function lookalike(bytes: Uint8Array): string | null {
  if (bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04) {
    return (
      'a zip archive, as a PyTorch checkpoint (.pt, .pth: torch.save) or a Keras .keras file is; kdq cannot run those: ' +
      'export the model with torch.onnx.export (PyTorch) or save it as a TF.js LayersModel or .tflite (Keras)'
    );
  }
  if (bytes[0] === 0x80 && bytes[1] !== undefined && bytes[1] >= 2 && bytes[1] <= 5) {
    return 'a Python pickle (an old-style PyTorch checkpoint); export the model with torch.onnx.export instead';
  }
  if (ascii(bytes, 1, 4) === 'HDF') {
    return 'an HDF5 file (a Keras .h5 model); convert it with tensorflowjs_converter --input_format keras to a TF.js LayersModel';
  }
  return null;
}

/**
 * The format of a teacher file from its first bytes (a JSON file is parsed by the TF.js reader,
 * which reports graph models and missing keys). Throws E_TEACHER naming the file otherwise.
 */
export function detectTeacherFormat(bytes: Uint8Array, path: string): TeacherFormat {
  if (bytes.length === 0) {
    throw new KdqError('E_TEACHER', `teacher model '${path}' is empty (0 bytes): the copy or download did not finish; copy the file again`);
  }
  if (ascii(bytes, 4, 8) === TFLITE_IDENTIFIER) return 'tflite';
  if (firstChar(bytes) === '{') return 'tfjs-layers';
  if (bytes[0] === ONNX_FIRST_KEY) return 'onnx';
  const like = lookalike(bytes);
  const hint = /\.(onnx|tflite|json)$/i.test(path)
    ? `; its name says ${path.slice(path.lastIndexOf('.'))} but its content is not: the file is corrupt or was saved in another format`
    : '';
  throw new KdqError(
    'E_TEACHER',
    like
      ? `teacher model '${path}' is ${like}`
      : `teacher model '${path}' is not ${FORMATS_TEXT} (first bytes ${Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ')})${hint}`,
  );
}
