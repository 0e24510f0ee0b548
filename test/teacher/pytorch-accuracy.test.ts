/**
 * The condition: the accuracy kdq measures for an ONNX teacher equals PyTorch's own to
 * 0.1 points. The teacher of the shipped experiment (experiments/teachers/mnist-cnn-pytorch.onnx,
 * 317,066 parameters, trained by scripts/make-teacher-fixtures.py) on all 10,000 MNIST test
 * images, with its own normalization, against the accuracy PyTorch recorded next to it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { openTeacher } from '../../src/teacher/index.ts';
import { accuracyOf, maxDiff, MNIST, mnistTest } from './fixtures.ts';

const TEACHER = join(import.meta.dirname, '..', '..', 'experiments', 'teachers', 'mnist-cnn-pytorch.onnx');
const RECORD = JSON.parse(readFileSync(TEACHER.replace(/\.onnx$/, '.json'), 'utf8')) as {
  params: number;
  sha256: string;
  preprocessing: { scale: number; mean: number; std: number };
  pytorch_test: { images: number; correct: number; accuracy: number; first8_logits: number[][] };
};

let test: { images: Float32Array; labels: Uint8Array };
beforeAll(async () => {
  test = await mnistTest();
});

describe('the shipped PyTorch teacher, measured by kdq', () => {
  it("has the accuracy PyTorch measured on the 10,000 test images, to 0.1 points, and PyTorch's logits", async () => {
    const { scale, mean, std } = RECORD.preprocessing;
    const t = await openTeacher(TEACHER, { data: MNIST, scale, mean, std });
    try {
      expect(t.files[0]!.sha256).toBe(RECORD.sha256);
      expect(t.params).toBe(RECORD.params);
      const start = performance.now();
      const logits = await t.logits(test.images, test.labels.length);
      const ms = performance.now() - start;
      const { correct, accuracy } = accuracyOf(logits, test.labels, 10);
      console.log(
        `kdq (onnxruntime-node): ${correct}/10000 = ${(accuracy * 100).toFixed(2)}%; PyTorch: ${RECORD.pytorch_test.correct}/10000; ${ms.toFixed(0)} ms`,
      );
      expect(test.labels.length).toBe(RECORD.pytorch_test.images);
      expect(Math.abs(accuracy - RECORD.pytorch_test.accuracy)).toBeLessThanOrEqual(0.001);
      expect(maxDiff(logits.subarray(0, 80), RECORD.pytorch_test.first8_logits.flat())).toBeLessThan(1e-3);
    } finally {
      t.close();
    }
  });
});
