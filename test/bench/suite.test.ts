import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.ts';
import { BENCH_SHAPES, selectShapes } from '../../bench/shapes.ts';
import { parseSuiteArgs } from '../../bench/suite.ts';
import { autoKernelThreads } from '../../src/backend/intra-op/threads.ts';

beforeAll(async () => {
  await initBackend('cpu');
});

describe('bench suite options', () => {
  it('defaults to every shape at batch 32 and 64', () => {
    expect(parseSuiteArgs([])).toEqual({
      batches: [32, 64],
      steps: 20,
      runs: 5,
      warmup: 60,
      warmupSeconds: 2,
      profile: false,
      peer: false,
      kernelThreads: [autoKernelThreads()],
      note: '',
    });
  });

  it('takes a subset of shapes, batch sizes, counts and --profile', () => {
    const o = parseSuiteArgs([
      '--shapes',
      'cnn,resnet8',
      '--batch',
      '64',
      '--steps',
      '7',
      '--runs',
      '3',
      '--warmup',
      '0',
      '--warmup-seconds',
      '1',
      '--profile',
      '--peer',
      '--kernel-threads',
      '1,2',
      '--note',
      'quiet',
    ]);
    expect(o).toEqual({
      shapes: ['cnn', 'resnet8'],
      batches: [64],
      steps: 7,
      runs: 3,
      warmup: 0,
      warmupSeconds: 1,
      profile: true,
      peer: true,
      kernelThreads: [1, 2],
      note: 'quiet',
    });
  });

  it('rejects unknown shapes and options and bad counts, naming what is valid', () => {
    expect(() => parseSuiteArgs(['--shapes', 'resnet9'])).toThrow(/unknown shape 'resnet9'; use one of: teacher, student, mlp, cnn, resnet8, dscnn/);
    expect(() => parseSuiteArgs(['--fast'])).toThrow(/unknown option '--fast'; use --shapes/);
    expect(() => parseSuiteArgs(['--runs', '2'])).toThrow(/--runs '2': expected a whole number >= 3/);
    expect(() => parseSuiteArgs(['--batch', '32,x'])).toThrow(/--batch 'x'/);
  });
});

describe('bench suite networks', () => {
  it('each builds for its input shape and outputs one logit per class', async () => {
    for (const s of BENCH_SHAPES) {
      const model = await s.build(1);
      expect(model.inputs[0]!.shape.slice(1), s.name).toEqual(s.inputShape);
      expect(model.outputs[0]!.shape, s.name).toEqual([null, s.classes]);
      model.dispose();
    }
  });

  it("ResNet-8 is MLPerf Tiny's: 78,666 parameters, 9 convolutions (two 1x1 strided shortcuts), 7 batch norms, 3 residual adds", async () => {
    const [resnet] = selectShapes(['resnet8']);
    const model = await resnet!.build(1);
    const kinds = model.layers.map((l) => l.getClassName());
    expect(model.countParams()).toBe(78666);
    expect(kinds.filter((k) => k === 'Conv2D')).toHaveLength(9);
    expect(kinds.filter((k) => k === 'BatchNormalization')).toHaveLength(7);
    expect(kinds.filter((k) => k === 'Add')).toHaveLength(3);
    const shortcuts = model.layers.filter((l) => l.getClassName() === 'Conv2D' && (l.getConfig() as { kernelSize: number[] }).kernelSize[0] === 1);
    expect(shortcuts.map((l) => (l.getConfig() as { strides: number[] }).strides)).toEqual([
      [2, 2],
      [2, 2],
    ]);
    // the same seed, the same initial weights
    const again = await resnet!.build(1);
    expect(again.getWeights().map((w) => Array.from(w.dataSync().slice(0, 4)))).toEqual(model.getWeights().map((w) => Array.from(w.dataSync().slice(0, 4))));
    model.dispose();
    again.dispose();
  });
});
