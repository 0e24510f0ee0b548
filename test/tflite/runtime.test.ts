import { beforeAll, describe, expect, it, vi } from 'vitest';
import { KdqError } from '../../src/errors.ts';
import { loadEmscriptenFactory } from '../../src/tflite/runtime/emscripten-glue.ts';
import { loadTflite, readIoTensors, RUNTIMES, type TfliteInterpreter } from '../../src/tflite/runtime/index.ts';
import { createRng } from '../../src/util/random.ts';
import { denseFixture } from './runtime-fixtures.ts';

// A spy around the real glue loader: proves each runtime's WASM module is started once per process.
vi.mock('../../src/tflite/runtime/emscripten-glue.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/tflite/runtime/emscripten-glue.ts')>();
  return { ...real, loadEmscriptenFactory: vi.fn(real.loadEmscriptenFactory) };
});

const fx = denseFixture(6, 4, 11);
const rng = createRng(2024);
/** Seeded inputs in [0, 1], as images are. */
const samples = Array.from({ length: 32 }, () => Float32Array.from({ length: fx.inSize }, () => rng()));

const toUint8 = (q: Int8Array): Uint8Array => Uint8Array.from(q, (v) => v + 128);

async function withModel<T>(bytes: Uint8Array, runtime: (typeof RUNTIMES)[number], f: (m: TfliteInterpreter) => T): Promise<T> {
  const m = await loadTflite(bytes, runtime);
  try {
    return f(m);
  } finally {
    m.close();
  }
}

async function expectTfliteError(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(KdqError);
  expect((err as KdqError).code).toBe('E_TFLITE');
  expect((err as KdqError).message).toMatch(pattern);
}

describe('fixture sanity', () => {
  it('no sample lands near a rounding tie, so exact int8 comparisons are meaningful', () => {
    for (const x of samples) expect(fx.tieMargin(fx.quantizeInput(x))).toBeGreaterThan(1e-3);
  });
});

describe('readIoTensors', () => {
  it('reads names, shapes, types and the input/output scale and zero point from the flatbuffer', () => {
    const io = readIoTensors(fx.files.int8Io);
    expect(io.inputs).toEqual([{ name: 'x', shape: [1, 6], dtype: 'int8', quantization: { scale: Math.fround(1 / 255), zeroPoint: -128 } }]);
    expect(io.outputs).toEqual([{ name: 'y', shape: [1, 4], dtype: 'int8', quantization: { scale: fx.output.scale, zeroPoint: fx.output.zeroPoint } }]);
    const u = readIoTensors(fx.files.uint8Io);
    expect(u.inputs[0]!.quantization).toEqual({ scale: Math.fround(1 / 255), zeroPoint: 0 });
    expect(u.outputs[0]).toMatchObject({ dtype: 'uint8', quantization: { zeroPoint: fx.output.zeroPoint + 128 } });
    expect(readIoTensors(fx.files.float).inputs[0]).toEqual({ name: 'x', shape: [1, 6], dtype: 'float32' });
    expect(readIoTensors(fx.files.float).outputAliases.size).toBe(0);
    expect([...readIoTensors(fx.twoOutputs).outputAliases]).toEqual([
      ['a_int8', 1],
      ['b_float', 0],
    ]);
  });
});

describe.each(RUNTIMES)('runtime %s', (runtime) => {
  it('runs the float32 model: y = W x + b', async () => {
    await withModel(fx.files.float, runtime, (m) => {
      expect(m.runtime).toBe(runtime);
      expect(m.inputs.map((t) => [t.dtype, t.shape])).toEqual([['float32', [1, 6]]]);
      for (const x of samples) {
        const y = m.run(x);
        expect(y).toBeInstanceOf(Float32Array);
        const want = fx.float(x);
        y.forEach((v, j) => expect(v).toBeCloseTo(want[j]!, 5));
      }
    });
  });

  it('runs the int8 model with float I/O: QUANTIZE, integer FC, DEQUANTIZE', async () => {
    await withModel(fx.files.int8FloatIo, runtime, (m) => {
      for (const x of samples) {
        const y = m.run(x);
        expect(y).toBeInstanceOf(Float32Array);
        const want = fx.int8FloatIo(x);
        y.forEach((v, j) => expect(v).toBeCloseTo(want[j]!, 6));
        // and the quantized model tracks the float one within a few output steps
        const f = fx.float(x);
        y.forEach((v, j) => expect(Math.abs(v - f[j]!)).toBeLessThan(4 * fx.output.scale));
      }
    });
  });

  it('runs the int8 model with int8 I/O bit-exactly', async () => {
    await withModel(fx.files.int8Io, runtime, (m) => {
      expect(m.inputs[0]!.dtype).toBe('int8');
      for (const x of samples) {
        const qx = fx.quantizeInput(x);
        const y = m.run(qx);
        expect(y).toBeInstanceOf(Int8Array);
        expect(Array.from(y)).toEqual(Array.from(fx.int8(qx)));
      }
    });
  });

  it('runs the model with uint8 I/O bit-exactly (zero points shifted by 128)', async () => {
    await withModel(fx.files.uint8Io, runtime, (m) => {
      for (const x of samples) {
        const qx = fx.quantizeInput(x);
        const y = m.run(toUint8(qx));
        expect(y).toBeInstanceOf(Uint8Array);
        expect(Array.from(y)).toEqual(Array.from(toUint8(fx.int8(qx))));
      }
    });
  });

  it('returns graph output 0 of a two-output model whose signature lists its outputs in another order', async () => {
    await withModel(fx.twoOutputs, runtime, (m) => {
      expect(m.outputs.map((t) => [t.name, t.dtype])).toEqual([
        ['y', 'float32'],
        ['y_int8', 'int8'],
      ]);
      const x = samples[3]!;
      const y = m.run(x);
      expect(y).toBeInstanceOf(Float32Array);
      const want = fx.int8FloatIo(x);
      y.forEach((v, j) => expect(v).toBeCloseTo(want[j]!, 6));
    });
  });

  it('rejects inputs of the wrong type or size, and run after close, with E_TFLITE', async () => {
    const m = await loadTflite(fx.files.int8Io, runtime);
    expect(() => m.run(new Float32Array(6))).toThrow(/is int8 but run\(\) got a Float32Array; pass a Int8Array/);
    expect(() => m.run(new Int8Array(5))).toThrow(/shape \[1, 6\] \(6 values\) but run\(\) got 5 values/);
    m.close();
    m.close(); // idempotent
    expect(() => m.run(new Int8Array(6))).toThrow(/run\(\) after close\(\)/);
  });

  it('turns garbage, truncated and damaged files into E_TFLITE errors, and keeps working afterwards', async () => {
    const garbage = Uint8Array.from({ length: 4096 }, () => Math.floor(rng() * 256));
    await expectTfliteError(loadTflite(garbage, runtime), /not a \.tflite file: expected the identifier "TFL3"/);
    await expectTfliteError(loadTflite(new Uint8Array(0), runtime), /got no bytes/);
    await expectTfliteError(loadTflite(fx.files.int8Io.slice(0, 40), runtime), /corrupt \.tflite file \(40 bytes\): .* outside the 40-byte file/);
    // Right identifier, garbage everywhere else.
    const fake = garbage.slice();
    fake.set([0x54, 0x46, 0x4c, 0x33], 4);
    await expectTfliteError(loadTflite(fake, runtime), /corrupt \.tflite file|rejected the model/);
    // I/O tensors still readable, but the weight buffers (written last, at the end) are cut off:
    // only the runtime's own flatbuffer verifier can notice.
    const cut = fx.files.float.slice(0, fx.files.float.length - 8);
    expect(readIoTensors(cut).inputs[0]!.name).toBe('x');
    await expectTfliteError(loadTflite(cut, runtime), new RegExp(`${runtime} rejected the model \\(${cut.length} bytes\\)`));
    // The shared WASM module is still healthy.
    await withModel(fx.files.int8Io, runtime, (m) => {
      const qx = fx.quantizeInput(samples[0]!);
      expect(Array.from(m.run(qx))).toEqual(Array.from(fx.int8(qx)));
    });
  });
});

it('refuses unknown runtime names', async () => {
  await expectTfliteError(loadTflite(fx.files.float, 'tflite-micro' as never), /unknown TFLite runtime "tflite-micro"; use one of: litert, tfjs-tflite/);
});

describe('both runtimes', () => {
  let interpreters: Record<string, Record<string, TfliteInterpreter>>;
  beforeAll(async () => {
    interpreters = {};
    for (const [kind, bytes] of Object.entries(fx.files)) {
      interpreters[kind] = {};
      for (const r of RUNTIMES) interpreters[kind]![r] = await loadTflite(bytes, r);
    }
    return () => {
      for (const byRuntime of Object.values(interpreters)) for (const m of Object.values(byRuntime)) m.close();
    };
  });

  it('agree with each other: bit-identical int8/uint8 outputs, float outputs within 1e-6', () => {
    const many = Array.from({ length: 300 }, () => Float32Array.from({ length: fx.inSize }, () => rng() * 1.2 - 0.1));
    const outputs = (kind: string, runtime: string, input: (x: Float32Array) => Float32Array | Int8Array | Uint8Array): number[] =>
      many.flatMap((x) => Array.from(interpreters[kind]![runtime]!.run(input(x))));
    const int8In = (x: Float32Array): Int8Array => fx.quantizeInput(x);
    const uint8In = (x: Float32Array): Uint8Array => toUint8(fx.quantizeInput(x));
    const int8Out = outputs('int8Io', 'litert', int8In);
    expect(int8Out).toHaveLength(300 * fx.outSize);
    expect(int8Out).toEqual(outputs('int8Io', 'tfjs-tflite', int8In));
    expect(outputs('uint8Io', 'litert', uint8In)).toEqual(outputs('uint8Io', 'tfjs-tflite', uint8In));
    for (const kind of ['float', 'int8FloatIo']) {
      const a = outputs(kind, 'litert', (x) => x);
      const b = outputs(kind, 'tfjs-tflite', (x) => x);
      const worst = a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
      expect(worst, kind).toBeLessThan(1e-6);
    }
  });

  it('describe the same inputs and outputs', () => {
    for (const byRuntime of Object.values(interpreters)) {
      expect(byRuntime.litert!.inputs).toEqual(byRuntime['tfjs-tflite']!.inputs);
      expect(byRuntime.litert!.outputs).toEqual(byRuntime['tfjs-tflite']!.outputs);
    }
  });

  it('started one WASM module per runtime for all the models loaded in this file', () => {
    const files = vi.mocked(loadEmscriptenFactory).mock.calls.map(([file]) => file.replace(/.*\/wasm\//, ''));
    expect(files).toHaveLength(2);
    expect(files.filter((f) => /^litert_wasm(_compat)?_internal\.js$/.test(f))).toHaveLength(1);
    expect(files.filter((f) => f === 'tflite_web_api_cc_simd.js')).toHaveLength(1);
  });

  it('installed no browser globals (self, importScripts, location, window)', () => {
    const g = globalThis as Record<string, unknown>;
    for (const name of ['self', 'importScripts', 'location', 'window', 'document', 'ModuleFactory', 'Module', 'tflite_web_api_ModuleFactory']) {
      expect(g[name], name).toBeUndefined();
    }
  });
});
