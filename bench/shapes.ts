/**
 * The bench suite's networks (`npm run bench -- --shapes NAME,...`): kd-mnist's teacher and
 * student, an MLP, a plain two-convolution CNN on 32x32x3, MLPerf Tiny's ResNet-8 and a
 * depthwise-separable network on keyword-spotting features (DS-CNN-like). All are built from kdq
 * layer specs by kdq's own model builder, as an experiment file would build them; ResNet-8's are
 * read from docs/architectures/resnet8.yaml.
 */
import { readFile } from 'node:fs/promises';
import type * as tf from '@tensorflow/tfjs';
import { parse } from 'yaml';
import { resolveLayer } from '../src/config/defaults.ts';
import type { LayerSpec } from '../src/config/types.ts';
import { buildModel } from '../src/models/build.ts';
import { benchModelConfig } from './train-throughput.ts';

export interface BenchShape {
  name: string;
  /** One line for tables. */
  description: string;
  /** [h, w, c] of one input. */
  inputShape: [number, number, number];
  classes: number;
  /** Its kdq layer specs, defaults resolved (also what the PyTorch peer builds). */
  layers(): Promise<LayerSpec[]>;
  /** The model, with seeded initial weights; logits out. */
  build(seed: number): Promise<tf.LayersModel>;
}

/** A shape whose network is kdq's model builder over `layers`. */
function shapeOf(name: string, description: string, inputShape: [number, number, number], classes: number, layers: () => Promise<LayerSpec[]>): BenchShape {
  return { name, description, inputShape, classes, layers, build: async (seed) => buildModel(await layers(), inputShape, seed, { role: name }) };
}

type Spec = LayerSpec;
const conv = (filters: number, kernelSize: number | [number, number], extra: Partial<Extract<Spec, { type: 'conv2d' }>> = {}): Spec => ({
  type: 'conv2d',
  filters,
  kernelSize,
  strides: 1,
  padding: 'valid',
  activation: 'relu',
  useBias: true,
  ...extra,
});
const pool: Spec = { type: 'maxPooling2d', poolSize: 2, strides: 2, padding: 'valid' };
const flatten: Spec = { type: 'flatten' };
const dense = (units: number, activation: 'relu' | 'linear' = 'relu'): Spec => ({ type: 'dense', units, activation, useBias: true });
const bn: Spec = { type: 'batchNormalization', momentum: 0.99, epsilon: 0.001 };
const relu: Spec = { type: 'activation', activation: 'relu' };

/** A kdq-built network of `layers`. */
function sequential(name: string, description: string, inputShape: [number, number, number], classes: number, layers: Spec[]): BenchShape {
  return shapeOf(name, description, inputShape, classes, async () => layers);
}

/** DS-CNN (MLPerf Tiny keyword spotting, 64 channels): conv 10x4/2, then four depthwise-separable blocks. */
function dsCnnLayers(): Spec[] {
  const layers: Spec[] = [conv(64, [10, 4], { strides: 2, padding: 'same', activation: 'linear' }), bn, relu];
  for (let i = 0; i < 4; i++) {
    layers.push(
      { type: 'depthwiseConv2d', kernelSize: 3, depthMultiplier: 1, strides: 1, padding: 'same', activation: 'linear', useBias: true },
      bn,
      relu,
      conv(64, 1, { activation: 'linear' }),
      bn,
      relu,
    );
  }
  layers.push({ type: 'globalAveragePooling2d' }, dense(12, 'linear'));
  return layers;
}

/**
 * The student layers of docs/architectures/resnet8.yaml with their defaults. Not through
 * loadExperiment: its shape checks still assume MNIST's 28x28x1, where the 8x8 pool does not fit.
 */
async function resnet8Layers(): Promise<LayerSpec[]> {
  const doc = parse(await readFile(new URL('../docs/architectures/resnet8.yaml', import.meta.url), 'utf8')) as { student: { layers: unknown[] } };
  return doc.student.layers.map(resolveLayer);
}

export const BENCH_SHAPES: readonly BenchShape[] = [
  shapeOf('teacher', 'kd-mnist teacher: conv32-pool-dense128-dense10, 28x28x1', [28, 28, 1], 10, async () => (await benchModelConfig('teacher')).layers),
  shapeOf('student', 'kd-mnist student: conv16-pool-dense64-dense10, 28x28x1', [28, 28, 1], 10, async () => (await benchModelConfig('student')).layers),
  sequential('mlp', 'MLP: dense256-dense128-dense10, 28x28x1', [28, 28, 1], 10, [flatten, dense(256), dense(128), dense(10, 'linear')]),
  sequential('cnn', 'plain CNN: conv32-pool-conv64-pool-dense128-dense10, 32x32x3', [32, 32, 3], 10, [
    conv(32, 3),
    pool,
    conv(64, 3),
    pool,
    flatten,
    dense(128),
    dense(10, 'linear'),
  ]),
  shapeOf('resnet8', 'ResNet-8 (MLPerf Tiny): 16/32/64 filters, batch norm, residual adds, 32x32x3', [32, 32, 3], 10, resnet8Layers),
  sequential('dscnn', 'DS-CNN-like: conv64 10x4/2, 4x (depthwise 3x3 + BN + relu + conv 1x1 + BN + relu), 49x10x1', [49, 10, 1], 12, dsCnnLayers()),
];

/** The shapes named in `names` (all when undefined); throws on an unknown name. */
export function selectShapes(names?: readonly string[]): BenchShape[] {
  if (names === undefined) return [...BENCH_SHAPES];
  return names.map((n) => {
    const shape = BENCH_SHAPES.find((s) => s.name === n);
    if (shape === undefined) throw new Error(`unknown shape '${n}'; use one of: ${BENCH_SHAPES.map((s) => s.name).join(', ')}`);
    return shape;
  });
}
