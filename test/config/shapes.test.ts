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
    expect(inferShapes(teacher, MNIST_INPUT_SHAPE, 10)).toEqual({ shapes: [[26, 26, 32], [13, 13, 32], [5408], [128], [10]], issues: [] });
    expect(inferShapes(student, MNIST_INPUT_SHAPE, 10).shapes).toEqual([[26, 26, 16], [13, 13, 16], [2704], [64], [10]]);
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
    expect(inferShapes(layers, MNIST_INPUT_SHAPE, 10).shapes).toEqual([[14, 28, 8], [6, 13, 16], [3, 7, 16], [16], [10]]);
  });

  it('names the layer, its type and the fix for each kind of unbuildable network', () => {
    const cases: [LayerSpec[], number, string, string][] = [
      [[conv(4, 29), flatten, dense(10)], 0, 'kernelSize', 'window 29x29 is larger than its input 28x28'],
      [[conv(4, 3, { strides: 10 }), pool(4), flatten, dense(10)], 1, 'poolSize', 'window 4x4 is larger than its input 3x3'],
      [[conv(4, 3), dense(10)], 1, 'type', 'add { type: flatten } before it'],
      [[flatten, flatten, dense(10)], 1, 'type', 'already flat'],
      [[flatten, { type: 'globalAveragePooling2d' }, dense(10)], 1, 'type', 'before any flatten'],
      [[flatten, conv(4, 3), dense(10)], 1, 'type', 'move it before the flatten'],
      [[flatten, dense(7)], 1, 'units', 'must end in 10 logits, one per class of the data (shape [10]), but outputs [7]'],
      [[conv(4, 3)], 0, 'type', 'but outputs [26, 26, 4]'],
    ];
    for (const [layers, index, key, fragment] of cases) {
      const { issues } = inferShapes(layers, MNIST_INPUT_SHAPE, 10);
      expect(issues, fragment).toHaveLength(1);
      expect(issues[0]).toMatchObject({ index, key });
      expect(issues[0]!.message).toContain(fragment);
      expect(issues[0]!.message).toMatch(new RegExp(`^layer ${index} \\(${layers[index]!.type}\\): `));
    }
  });

  it('allows a window as large as its input with valid padding, and any window with same padding', () => {
    expect(inferShapes([conv(4, 28), flatten, dense(10)], MNIST_INPUT_SHAPE, 10).issues).toEqual([]);
    expect(inferShapes([conv(4, 40, { padding: 'same' }), flatten, dense(10)], MNIST_INPUT_SHAPE, 10).shapes[0]).toEqual([28, 28, 4]);
  });
});

describe('inferShapes on the data of other sources', () => {
  it('takes any image size and class count: 32x32x3 in 100 classes, 6x10 grey in 5', () => {
    const cifar = [conv(8, 3), pool(2), flatten, dense(100)];
    expect(inferShapes(cifar, [32, 32, 3], 100)).toEqual({ shapes: [[30, 30, 8], [15, 15, 8], [1800], [100]], issues: [] });
    expect(inferShapes([conv(4, [3, 5]), flatten, dense(5)], [6, 10, 1], 5).shapes).toEqual([[4, 6, 4], [96], [5]]);
    // A kernel that fits 28x28 but not 6x10 is named against the real input.
    expect(inferShapes([conv(4, 7), flatten, dense(5)], [6, 10, 1], 5).issues[0]!.message).toContain('window 7x7 is larger than its input 6x10');
  });

  it("asks for as many units as the data has classes, at the last dense layer's units", () => {
    const { issues } = inferShapes([conv(8, 3), flatten, dense(10)], [32, 32, 3], 5);
    expect(issues).toEqual([
      {
        index: 2,
        key: 'units',
        message:
          'layer 2 (dense): the network must end in 5 logits, one per class of the data (shape [5]), but outputs [10]; end with { type: dense, units: 5 }',
      },
    ]);
  });

  it('builds dense networks on table rows [F], and says why image layers do not fit them', () => {
    expect(inferShapes([dense(16), { type: 'dropout', rate: 0.1 }, dense(3)], [13], 3)).toEqual({ shapes: [[16], [16], [3]], issues: [] });
    const conv1 = inferShapes([conv(4, 3), flatten, dense(3)], [13], 3).issues[0]!;
    expect(conv1).toMatchObject({ index: 0, key: 'type' });
    expect(conv1.message).toContain('the data is table rows (input [features]), not images: conv2d needs [height, width, channels]; use dense layers');
    expect(inferShapes([flatten, dense(3)], [13], 3).issues[0]!.message).toContain('the data is table rows [13], already flat; remove this flatten');
    expect(inferShapes([{ type: 'globalAveragePooling2d' }, dense(3)], [13], 3).issues[0]!.message).toContain('not images: globalAveragePooling2d');
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
