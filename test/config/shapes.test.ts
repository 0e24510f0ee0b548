import { describe, expect, it } from 'vitest';
import type { LayerSpec } from '../../src/config/types.ts';
import { MNIST_INPUT_SHAPE, convOutputLength, countParams, inferShapes } from '../../src/models/shapes.ts';

const conv = (filters: number, kernelSize: number | [number, number], extra: Partial<LayerSpec> = {}): LayerSpec =>
  ({ type: 'conv2d', filters, kernelSize, strides: 1, padding: 'valid', activation: 'relu', useBias: true, ...extra }) as LayerSpec;
const pool = (poolSize: number, extra: Partial<LayerSpec> = {}): LayerSpec =>
  ({ type: 'maxPooling2d', poolSize, strides: poolSize, padding: 'valid', ...extra }) as LayerSpec;
const dense = (units: number, useBias = true): LayerSpec => ({ type: 'dense', units, activation: 'linear', useBias });
const flatten: LayerSpec = { type: 'flatten' };

const teacher = [conv(32, 3), pool(2), flatten, dense(128), dense(10)];
const student = [conv(16, 3), pool(2), flatten, dense(64), dense(10)];

describe('inferShapes', () => {
  it('pins the kd-mnist teacher and student shapes', () => {
    expect(inferShapes(teacher, MNIST_INPUT_SHAPE)).toEqual({ shapes: [[26, 26, 32], [13, 13, 32], [5408], [128], [10]], issues: [] });
    expect(inferShapes(student, MNIST_INPUT_SHAPE).shapes).toEqual([[26, 26, 16], [13, 13, 16], [2704], [64], [10]]);
  });

  it('computes same and valid padding with strides as tf.js does', () => {
    expect(convOutputLength(28, 3, 1, 'valid')).toBe(26);
    expect(convOutputLength(28, 3, 2, 'valid')).toBe(13);
    expect(convOutputLength(28, 3, 2, 'same')).toBe(14);
    expect(convOutputLength(27, 2, 2, 'same')).toBe(14);
    expect(convOutputLength(27, 2, 2, 'valid')).toBe(13);
    const layers: LayerSpec[] = [
      conv(8, [5, 3], { strides: [2, 1], padding: 'same' }),
      { type: 'depthwiseConv2d', kernelSize: 3, depthMultiplier: 2, strides: 2, padding: 'valid', activation: 'relu6', useBias: true },
      { type: 'averagePooling2d', poolSize: 2, strides: null, padding: 'same' },
      { type: 'globalAveragePooling2d' },
      dense(10),
    ];
    expect(inferShapes(layers, MNIST_INPUT_SHAPE).shapes).toEqual([[14, 28, 8], [6, 13, 16], [3, 7, 16], [16], [10]]);
  });

  it('names the layer, its type and the fix for each kind of unbuildable network', () => {
    const cases: [LayerSpec[], number, string, string][] = [
      [[conv(4, 29), flatten, dense(10)], 0, 'kernelSize', 'window 29x29 is larger than its input 28x28'],
      [[conv(4, 3, { strides: 10 }), pool(4), flatten, dense(10)], 1, 'poolSize', 'window 4x4 is larger than its input 3x3'],
      [[conv(4, 3), dense(10)], 1, 'type', 'add { type: flatten } before it'],
      [[flatten, flatten, dense(10)], 1, 'type', 'already flat'],
      [[flatten, { type: 'globalAveragePooling2d' }, dense(10)], 1, 'type', 'before any flatten'],
      [[flatten, conv(4, 3), dense(10)], 1, 'type', 'move it before the flatten'],
      [[flatten, dense(7)], 1, 'type', 'must end in 10 logits (shape [10]) but outputs [7]'],
      [[conv(4, 3)], 0, 'type', 'but outputs [26, 26, 4]'],
    ];
    for (const [layers, index, key, fragment] of cases) {
      const { issues } = inferShapes(layers, MNIST_INPUT_SHAPE);
      expect(issues, fragment).toHaveLength(1);
      expect(issues[0]).toMatchObject({ index, key });
      expect(issues[0]!.message).toContain(fragment);
      expect(issues[0]!.message).toMatch(new RegExp(`^layer ${index} \\(${layers[index]!.type}\\): `));
    }
  });

  it('allows a window as large as its input with valid padding, and any window with same padding', () => {
    expect(inferShapes([conv(4, 28), flatten, dense(10)], MNIST_INPUT_SHAPE).issues).toEqual([]);
    expect(inferShapes([conv(4, 40, { padding: 'same' }), flatten, dense(10)], MNIST_INPUT_SHAPE).shapes[0]).toEqual([28, 28, 4]);
  });
});

describe('countParams', () => {
  it('counts the kd-mnist teacher and student as tf.js does', () => {
    // conv 3*3*1*32+32 = 320, dense 5408*128+128 = 692,352, dense 128*10+10 = 1,290.
    expect(countParams(teacher, MNIST_INPUT_SHAPE)).toBe(693_962);
    // conv 160, dense 2704*64+64 = 173,120, dense 650.
    expect(countParams(student, MNIST_INPUT_SHAPE)).toBe(173_930);
  });

  it('counts biases only when used, batch norm as 4 per channel, depthwise per input channel', () => {
    expect(countParams([flatten, dense(10, false)], MNIST_INPUT_SHAPE)).toBe(7840);
    expect(countParams([conv(8, 3), { type: 'batchNormalization', momentum: 0.99, epsilon: 0.001 }, flatten, dense(10)], MNIST_INPUT_SHAPE)).toBe(
      80 + 32 + 26 * 26 * 8 * 10 + 10,
    );
    const dw: LayerSpec = { type: 'depthwiseConv2d', kernelSize: 3, depthMultiplier: 2, strides: 1, padding: 'valid', activation: 'linear', useBias: true };
    expect(countParams([conv(4, 3), dw, { type: 'globalAveragePooling2d' }, dense(10)], MNIST_INPUT_SHAPE)).toBe(40 + (9 * 8 + 8) + (8 * 10 + 10));
  });

  it('throws on a network that cannot be built', () => {
    expect(() => countParams([conv(4, 3), dense(10)], MNIST_INPUT_SHAPE)).toThrow(/add \{ type: flatten \}/);
  });
});
