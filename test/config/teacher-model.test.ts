/**
 * `teacher.model`: a teacher trained elsewhere in the experiment file. Defaults, the format read
 * from the file, the path restated relative to the experiment, and equal spellings giving equal
 * configs (and so equal stage keys). The bad cases are files in test/fixtures/invalid/teacher-*.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadExperiment } from '../../src/config/load.ts';
import { canonicalJson } from '../../src/pipeline/hash.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const TEACHERS = path.join(ROOT, 'test/fixtures/teachers');
const scratch = mkdtempSync(path.join(tmpdir(), 'kdq-teacher-config-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const STUDENT = 'student:\n  layers:\n    - { type: flatten }\n    - { type: dense, units: 10 }\n';

function write(rel: string, text: string): string {
  const file = path.join(scratch, rel);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
  return file;
}

describe('teacher.model', () => {
  it('the shipped PyTorch teacher: format from the file, its preprocessing, no fine-tuning', async () => {
    const { experiment } = await loadExperiment(path.join(ROOT, 'experiments/kd-mnist-pytorch-teacher.yaml'));
    expect(experiment.teacher).toEqual({
      model: 'teachers/mnist-cnn-pytorch.onnx',
      format: 'onnx',
      inputLayout: 'nchw',
      output: 'logits',
      scale: 1,
      mean: 0.1307,
      std: 0.3081,
      training: { epochs: 0, batchSize: 32, optimizer: 'adam', learningRate: 0.001, momentum: 0.9, shuffle: true },
    });
  });

  it('fills in the format and its input layout, so writing a default and leaving it out give the same config', async () => {
    const model = path.join(TEACHERS, 'cnn-logits.onnx');
    const short = await loadExperiment(write('short.yaml', `name: t\nteacher:\n  model: ${model}\n${STUDENT}`));
    const long = await loadExperiment(
      write('long.yaml', `name: t\nteacher:\n  model: ${model}\n  inputLayout: nchw\n  output: auto\n  scale: 1\n  mean: [0]\n  std: 1\n${STUDENT}`),
    );
    expect(canonicalJson(long.experiment)).toBe(canonicalJson(short.experiment));
    const tfjs = await loadExperiment(write('tfjs.yaml', `name: t\nteacher:\n  model: ${path.join(TEACHERS, 'tfjs-cnn/model.json')}\n${STUDENT}`));
    expect(tfjs.experiment.teacher).toMatchObject({ format: 'tfjs-layers', inputLayout: 'nhwc' });
    const tflite = await loadExperiment(write('tflite.yaml', `name: t\nteacher:\n  model: ${path.join(TEACHERS, 'cnn.tflite')}\n${STUDENT}`));
    expect(tflite.experiment.teacher).toMatchObject({ format: 'tflite', inputLayout: 'nhwc' });
  });

  it('is relative to the file that names it, and restated relative to the experiment', async () => {
    mkdirSync(path.join(scratch, 'base/models'), { recursive: true });
    copyFileSync(path.join(TEACHERS, 'cnn-logits.onnx'), path.join(scratch, 'base/models/t.onnx'));
    write('base/base.yaml', `name: base\nteacher:\n  model: models/t.onnx\n${STUDENT}`);
    const child = await loadExperiment(write('exp/child.yaml', 'extends: ../base/base.yaml\nname: child\n'));
    expect(child.experiment.teacher).toMatchObject({ model: path.join('..', 'base', 'models', 't.onnx'), format: 'onnx' });
    const set = await loadExperiment(
      write('exp/set.yaml', `name: set\nteacher:\n  layers:\n    - { type: flatten }\n    - { type: dense, units: 10 }\n${STUDENT}`),
      {
        set: ['teacher={model: ../base/models/t.onnx}'],
      },
    );
    expect(set.experiment.teacher).toMatchObject({ model: path.join('..', 'base', 'models', 't.onnx') });
  });

  it('a TF.js teacher with training.epochs is fine-tuned with that schedule', async () => {
    const { experiment } = await loadExperiment(
      write(
        'fine.yaml',
        `name: t\nteacher:\n  model: ${path.join(TEACHERS, 'tfjs-cnn/model.json')}\n  training: { epochs: 2, learningRate: 0.0001 }\n${STUDENT}`,
      ),
    );
    expect(experiment.teacher.training).toMatchObject({ epochs: 2, learningRate: 0.0001 });
  });
});
