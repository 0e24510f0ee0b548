/**
 * Operator versions and min_runtime_version against the converter's own rules
 * (tensorflow/lite/tools/versioning/op_version.cc, op_signature.cc, runtime_version.cc): every
 * hybrid and per-channel case kdq can write, and a runtime version for every version it writes.
 */
import { describe, expect, it } from 'vitest';
import { isPerChannel, MIN_RUNTIME, minRuntimeVersion, opVersion, type OpSignature } from '../../src/tflite/op-version.ts';

const text = (b: Uint8Array): string => new TextDecoder().decode(b).replace(/\0+$/, '');

describe('opVersion follows op_version.cc', () => {
  const F = 'FLOAT32' as const;
  const I = 'INT8' as const;
  it.each<[string, string, OpSignature, number]>([
    ['CONV_2D', 'float', { input: F, weight: F }, 1],
    ['CONV_2D', 'int8', { input: I, weight: I, perChannel: true }, 3],
    ['CONV_2D', 'hybrid, per-tensor weights', { input: F, weight: I }, 2],
    ['CONV_2D', 'hybrid, per-channel weights', { input: F, weight: I, perChannel: true }, 5],
    ['DEPTHWISE_CONV_2D', 'float', { input: F, weight: F }, 1],
    ['DEPTHWISE_CONV_2D', 'float, dilated', { input: F, weight: F, dilated: true }, 2],
    ['DEPTHWISE_CONV_2D', 'int8, dilated', { input: I, weight: I, perChannel: true, dilated: true }, 3],
    ['DEPTHWISE_CONV_2D', 'hybrid, per-tensor weights', { input: F, weight: I }, 4],
    ['DEPTHWISE_CONV_2D', 'hybrid, per-channel weights, dilated', { input: F, weight: I, perChannel: true, dilated: true }, 6],
    ['FULLY_CONNECTED', 'float', { input: F, weight: F, hasBias: true }, 1],
    ['FULLY_CONNECTED', 'int8', { input: I, weight: I, hasBias: true }, 4],
    ['FULLY_CONNECTED', 'int8, per-channel weights (the int8 kernel has no per-channel variant)', { input: I, weight: I, hasBias: true, perChannel: true }, 4],
    ['FULLY_CONNECTED', 'int8 without bias', { input: I, weight: I, hasBias: false }, 6],
    ['FULLY_CONNECTED', 'keep_num_dims', { input: F, weight: F, hasBias: true, keepNumDims: true }, 5],
    ['FULLY_CONNECTED', 'hybrid, per-tensor weights', { input: F, weight: I, hasBias: true }, 3],
    ['FULLY_CONNECTED', 'hybrid, asymmetric input quantization', { input: F, weight: I, hasBias: true, asymmetricQuantizeInputs: true }, 9],
    ['FULLY_CONNECTED', 'hybrid, per-tensor weights, no bias', { input: F, weight: I, hasBias: false }, 6],
    ['FULLY_CONNECTED', 'hybrid, per-channel weights', { input: F, weight: I, hasBias: true, perChannel: true }, 12],
    ['FULLY_CONNECTED', 'hybrid, per-channel weights, no bias (per-channel is checked first)', { input: F, weight: I, hasBias: false, perChannel: true }, 12],
    ['RELU6', 'int8', { input: I }, 2],
    ['LOGISTIC', 'float', { input: F }, 1],
    ['DEQUANTIZE', 'float16', { input: 'FLOAT16' }, 3],
    ['ADD', 'float', { input: F }, 1],
    ['ADD', 'int8', { input: I }, 2],
    ['CONCATENATION', 'float', { input: F }, 1],
    ['CONCATENATION', 'int8', { input: I }, 2],
    ['MUL', 'float', { input: F }, 1],
    ['MUL', 'int8, input scales over output scale below 1', { input: I, rescale: 0.4 }, 2],
    ['MUL', 'int8, input scales over output scale at least 1', { input: I, rescale: 1 }, 3],
  ])('%s, %s: v%i', (op, _what, sig, version) => {
    expect(opVersion(op, sig)).toBe(version);
  });
});

describe('isPerChannel counts scales as op_signature.cc does', () => {
  it('CONV_2D: one scale per output channel, dimension 0, even a single one', () => {
    expect(isPerChannel('CONV_2D', [16, 3, 3, 1], 16)).toBe(true);
    expect(isPerChannel('CONV_2D', [1, 3, 3, 1], 1)).toBe(true);
    expect(isPerChannel('CONV_2D', [16, 3, 3, 1], 1)).toBe(false);
  });
  it('DEPTHWISE_CONV_2D: one scale per channel of dimension 3', () => {
    expect(isPerChannel('DEPTHWISE_CONV_2D', [1, 3, 3, 32], 32)).toBe(true);
    expect(isPerChannel('DEPTHWISE_CONV_2D', [1, 3, 3, 32], 1)).toBe(false);
  });
  it('FULLY_CONNECTED: more than one scale, one per output row', () => {
    expect(isPerChannel('FULLY_CONNECTED', [64, 2704], 64)).toBe(true);
    expect(isPerChannel('FULLY_CONNECTED', [64, 2704], 1)).toBe(false);
    // A one-unit dense layer quantized "per channel" has one scale: the converter writes v3, not v12.
    expect(isPerChannel('FULLY_CONNECTED', [1, 2704], 1)).toBe(false);
    expect(isPerChannel('FULLY_CONNECTED', [64, 2704], 0)).toBe(false);
  });
});

describe('min_runtime_version follows runtime_version.cc', () => {
  it('has an entry for every version opVersion writes, and refuses to guess one it lacks', () => {
    const sigs: OpSignature[] = [];
    for (const input of ['FLOAT32', 'INT8', 'FLOAT16'] as const) {
      for (const weight of [undefined, 'FLOAT32', 'INT8'] as const) {
        for (const flag of [
          {},
          { perChannel: true },
          { hasBias: false },
          { dilated: true },
          { keepNumDims: true },
          { asymmetricQuantizeInputs: true },
          { rescale: 0.5 },
          { rescale: 2 },
        ]) {
          sigs.push({ input, ...(weight ? { weight } : {}), hasBias: true, ...flag });
        }
      }
    }
    const ops = [
      'CONV_2D',
      'DEPTHWISE_CONV_2D',
      'FULLY_CONNECTED',
      'MAX_POOL_2D',
      'AVERAGE_POOL_2D',
      'MEAN',
      'SOFTMAX',
      'TANH',
      'LOGISTIC',
      'RELU',
      'RELU6',
      'RESHAPE',
      'QUANTIZE',
      'DEQUANTIZE',
      'ADD',
      'CONCATENATION',
      'MUL',
    ];
    for (const op of ops) {
      for (const sig of sigs) {
        const version = opVersion(op, sig);
        expect(MIN_RUNTIME[`${op}/${version}`], `${op} v${version}`).toMatch(/^\d+\.\d+\.\d+$/);
      }
    }
    expect(() => minRuntimeVersion([{ op: 'FULLY_CONNECTED', version: 13 }])).toThrow(/no minimum runtime version for FULLY_CONNECTED v13/);
  });

  it('is the newest of the ops: 2.17.0 with a per-channel hybrid FULLY_CONNECTED', () => {
    expect(
      text(
        minRuntimeVersion([
          { op: 'CONV_2D', version: 1 },
          { op: 'FULLY_CONNECTED', version: 12 },
          { op: 'SOFTMAX', version: 1 },
        ]),
      ),
    ).toBe('2.17.0');
    expect(text(minRuntimeVersion([{ op: 'DEPTHWISE_CONV_2D', version: 4 }]))).toBe('2.2.0');
    // runtime_version.cc's values where kdq's table had others.
    expect(text(minRuntimeVersion([{ op: 'LOGISTIC', version: 1 }]))).toBe('1.14.0');
    expect(text(minRuntimeVersion([{ op: 'RELU6', version: 2 }]))).toBe('1.14.0');
    expect(minRuntimeVersion([{ op: 'RESHAPE', version: 1 }])).toHaveLength(16);
    expect(
      text(
        minRuntimeVersion([
          { op: 'ADD', version: 2 },
          { op: 'CONCATENATION', version: 2 },
        ]),
      ),
    ).toBe('1.14.0');
    expect(text(minRuntimeVersion([{ op: 'MUL', version: 3 }]))).toBe('1.15.0');
  });
});
