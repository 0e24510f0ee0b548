/**
 * MLPerf Tiny's ResNet-8 and a DS-CNN written as kdq layer lists: short, schema-valid, with the
 * shapes and parameter counts of the reference networks, and built by kdq's builder into models
 * that tf.js agrees about. Training, distilling and exporting them is in
 * test/tflite/architectures-export.test.ts.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.ts';
import { loadExperiment } from '../../src/config/load.ts';
import { layersOf } from '../../src/config/teacher-model.ts';
import { buildModel, modelSummary } from '../../src/models/build.ts';
import { countParams, inferShapes } from '../../src/models/shapes.ts';
import { ARCHITECTURES, DSCNN_INPUT, RESNET_INPUT, architecture } from './architecture-fixtures.ts';

beforeAll(async () => {
  await initBackend('wasm');
});

describe('ResNet-8 (MLPerf Tiny image classification)', () => {
  it('takes 39 lines of YAML, the whole file', () => {
    expect(readFileSync(path.join(ARCHITECTURES, 'resnet8.yaml'), 'utf8').trimEnd().split('\n').length).toBeLessThanOrEqual(40);
  });

  it('is schema-valid, wires without issues and has the reference shapes on 32x32x3', async () => {
    const { experiment, schemaErrors } = await architecture('resnet8.yaml');
    expect(schemaErrors).toBe(0);
    const layers = experiment.student.layers;
    const { shapes, issues } = inferShapes(layers, RESNET_INPUT, 10);
    expect(issues).toEqual([]);
    const at = (name: string) => shapes[layers.findIndex((l) => l.name === name)];
    expect([at('stem'), at('stack1'), at('stack2'), at('short3')]).toEqual([
      [32, 32, 16],
      [32, 32, 16],
      [16, 16, 32],
      [8, 8, 64],
    ]);
    expect(shapes.slice(-3)).toEqual([[1, 1, 64], [64], [10]]);
  });

  it("has the reference network's 78,666 parameters (78,186 trainable, 480 batch-norm statistics), as kdq counts and tf.js builds", async () => {
    const layers = (await architecture('resnet8.yaml')).experiment.student.layers;
    expect(countParams(layers, RESNET_INPUT)).toBe(78_666);
    const model = buildModel(layers, RESNET_INPUT, 1, { role: 'student' });
    const s = modelSummary(model);
    expect([s.params, s.trainableParams]).toEqual([78_666, 78_186]);
    // The shortcuts read the stacks' outputs: the summary shows the branches.
    expect(s.layers.find((l) => l.name === 'student_15_conv2d')!.inputs).toEqual(['student_9_activation']);
    expect(s.layers.find((l) => l.name === 'student_16_add')!.inputs).toEqual(['student_15_conv2d', 'student_14_batchNormalization']);
    model.dispose();
  });

  it('the residual teacher of its base file is valid too, and larger', async () => {
    const { experiment } = await architecture('resnet8.yaml');
    const teacher = layersOf(experiment.teacher);
    expect(inferShapes(teacher, RESNET_INPUT, 10).issues).toEqual([]);
    expect(countParams(teacher, RESNET_INPUT)).toBe(309_898);
  });
});

describe('DS-CNN (keyword spotting, 49x10x1)', () => {
  it('is schema-valid, has the shapes of the reference on 49x10x1 and 12 classes, and builds', async () => {
    const { experiment, schemaErrors } = await architecture('ds-cnn.yaml');
    expect(schemaErrors).toBe(0);
    const layers = experiment.student.layers;
    const { shapes, issues } = inferShapes(layers, DSCNN_INPUT, 12);
    expect(issues).toEqual([]);
    expect(shapes[0]).toEqual([25, 5, 64]);
    expect(shapes.slice(-2)).toEqual([[64], [12]]);
    const params = countParams(layers, DSCNN_INPUT);
    const model = buildModel(layers, DSCNN_INPUT, 1, { role: 'student' });
    expect(model.countParams()).toBe(params);
    model.dispose();
  });
});

describe('a residual student for Fashion-MNIST (28x28x1)', () => {
  it('passes every check of kdq validate, semantic ones included', async () => {
    const { experiment } = await loadExperiment(path.join(ARCHITECTURES, 'resnet-fashion-mnist.yaml'));
    expect(experiment.data.source).toBe('fashion-mnist');
    expect(experiment.student.layers.filter((l) => l.type === 'add')).toHaveLength(3);
    expect(countParams(experiment.student.layers, [28, 28, 1])).toBe(20_122);
    const model = buildModel(experiment.student.layers, [28, 28, 1], 1, { role: 'student' });
    expect(model.countParams()).toBe(20_122);
    model.dispose();
  });
});
