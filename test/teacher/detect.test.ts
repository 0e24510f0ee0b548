/** Format detection from content: the three formats whatever their names, and the usual mistakes. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type KdqError } from '../../src/errors.ts';
import { detectTeacherFormat } from '../../src/teacher/detect.ts';

const DIR = join(import.meta.dirname, '..', 'fixtures', 'teachers');
const read = (name: string): Uint8Array => new Uint8Array(readFileSync(join(DIR, name)));

function error(bytes: Uint8Array, path: string): KdqError {
  try {
    detectTeacherFormat(bytes, path);
  } catch (err) {
    return err as KdqError;
  }
  throw new Error('expected an error');
}

describe('detectTeacherFormat', () => {
  it('tells the three formats apart by content, not by name', () => {
    expect(detectTeacherFormat(read('cnn-logits.onnx'), 'teacher.bin')).toBe('onnx');
    expect(detectTeacherFormat(read('cnn.tflite'), 'teacher.onnx')).toBe('tflite');
    expect(detectTeacherFormat(read('tfjs-cnn/model.json'), 'teacher.tflite')).toBe('tfjs-layers');
  });

  it('refuses an empty file, saying the copy did not finish', () => {
    const err = error(new Uint8Array(0), 'models/t.onnx');
    expect(err.code).toBe('E_TEACHER');
    expect(err.exitCode).toBe(2);
    expect(err.message).toMatch(/'models\/t\.onnx' is empty/);
  });

  it('names a PyTorch checkpoint (zip or pickle) and says to export to ONNX', () => {
    const zip = error(new Uint8Array([0x50, 0x4b, 0x03, 0x04, 0, 0, 0, 0]), 'model.pt');
    expect(zip.message).toMatch(/'model\.pt' is a zip archive.*torch\.onnx\.export/);
    expect(error(new Uint8Array([0x80, 0x02, 0x7d, 0x71]), 'model.pth').message).toMatch(/pickle.*torch\.onnx\.export/);
  });

  it('names a Keras .h5 file and says how to convert it', () => {
    const h5 = new Uint8Array([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);
    expect(error(h5, 'model.h5').message).toMatch(/HDF5.*tensorflowjs_converter/);
  });

  it('says what it expected for anything else, quoting the first bytes and the misleading extension', () => {
    const err = error(new TextEncoder().encode('not a model'), 'teacher.onnx');
    expect(err.message).toMatch(/'teacher\.onnx' is not an ONNX model.*first bytes 6e 6f 74 20.*name says \.onnx/);
  });
});
