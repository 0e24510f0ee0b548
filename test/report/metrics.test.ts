/**
 * metrics.json as a contract: canonical bytes (sorted keys, 6 decimal places), described by
 * schemas/metrics.schema.json, and the multi-seed statistics (mean, sample std, KD gain).
 */
import { describe, expect, it } from 'vitest';
import { BACKENDS, IO_TYPES, MODEL_ROLES, QUANT_MODES, SIMD_VARIANTS, TEACHER_FORMATS, TFLITE_RUNTIMES } from '../../src/names.ts';
import { canonicalMetrics, runtimeMetrics, serializeMetrics, stat, summarizeSeeds, type Metrics, type SeedMetrics } from '../../src/report/metrics.ts';
import { sampleMetrics } from './fixtures.ts';
import { metricsSchema, metricsSchemaErrors } from './metrics-schema.ts';

const defs = metricsSchema.$defs;

describe('schemas/metrics.schema.json', () => {
  it('names the roles, backends, modes and I/O types of src/names.ts', () => {
    expect(defs.models.propertyNames.enum).toEqual([...MODEL_ROLES]);
    expect(metricsSchema.properties.backend.properties.name.enum).toEqual([...BACKENDS]);
    expect(metricsSchema.properties.backend.properties.kernels.enum).toEqual([...SIMD_VARIANTS]);
    // A file's mode is its quantization mode, float32 for `quantization.mode: none`.
    expect(defs.tflite.properties.mode.enum).toEqual(QUANT_MODES.map((q) => (q === 'none' ? 'float32' : q)));
    expect(defs.tflite.properties.input_type.enum).toEqual([...IO_TYPES]);
    expect(defs.tflite.properties.output_type.enum).toEqual([...IO_TYPES]);
    expect(defs.tflite.properties.runtimes.propertyNames.enum).toEqual([...TFLITE_RUNTIMES]);
    expect(defs.importedTeacher.properties.format.enum).toEqual([...TEACHER_FORMATS]);
    expect(metricsSchema.properties.curves.propertyNames.enum).toEqual([...MODEL_ROLES]);
  });

  it('takes training curves with or without validation, and the early-stopping epoch', () => {
    const m = JSON.parse(serializeMetrics(sampleMetrics()));
    m.curves = {
      teacher: [{ epoch: 1, loss: 0.5, accuracy: 0.8, learning_rate: 0.001 }],
      student: [
        { epoch: 1, loss: 1.2, accuracy: 0.7, learning_rate: 0.0005, val_loss: 0.4, val_accuracy: 0.88 },
        { epoch: 2, loss: 1.1, accuracy: 0.75, learning_rate: 0.001, val_loss: 0.35, val_accuracy: 0.9 },
      ],
    };
    m.models.student.best_epoch = 2;
    expect(metricsSchemaErrors(m)).toEqual([]);
    // The last epochs of a long cosine run at rates that round to 0 at 6 decimal places.
    m.curves.student[1].learning_rate = 0;
    expect(metricsSchemaErrors(m)).toEqual([]);
    const bad = structuredClone(m);
    bad.curves.student[0].val_accuracy = 1.5;
    bad.curves.student[1].lr = 0.1;
    expect(metricsSchemaErrors(bad)).toEqual(['/curves/student/0/val_accuracy: must be <= 1', '/curves/student/1: must NOT have additional properties']);
  });

  it("takes each runtime's accuracy or its refusal, never both, never neither", () => {
    const m = JSON.parse(serializeMetrics(sampleMetrics()));
    const runtimes = (r: unknown) => {
      const x = structuredClone(m);
      x.models.student_int8.tflite.runtimes['tfjs-tflite'] = r;
      return metricsSchemaErrors(x);
    };
    const version = '@tensorflow/tfjs-tflite 0.0.1-alpha.10';
    expect(runtimes({ runtime: version, refused: 'no kernel for FULLY_CONNECTED version 12' })).toEqual([]);
    expect(runtimes({ runtime: version, accuracy: 0.5, agreement_with_primary: 0.5 })).toEqual([]);
    expect(runtimes({ runtime: version })).toContain('/models/student_int8/tflite/runtimes/tfjs-tflite: must match exactly one schema in oneOf');
    expect(runtimes({ runtime: version, accuracy: 0.5, agreement_with_primary: 0.5, refused: 'x' })).toContain(
      '/models/student_int8/tflite/runtimes/tfjs-tflite: must match exactly one schema in oneOf',
    );
    const unknown = structuredClone(m);
    unknown.models.student_int8.tflite.runtimes.tflite_micro = { runtime: 'x', refused: 'y' };
    expect(metricsSchemaErrors(unknown)).toContain('/models/student_int8/tflite/runtimes: property name must be valid');
  });

  it('runtimeMetrics keeps accuracy and agreement, or the refusal, and drops timings', () => {
    expect(
      runtimeMetrics([
        { runtime: 'litert', runtimeVersion: 'L 1', status: 'ran', accuracy: 0.9, top1Agreement: 1, maxOutputDifference: 0, latencyMsPerImage: 0.3 },
        { runtime: 'tfjs-tflite', runtimeVersion: 'T 2', status: 'refused', missingKernel: 'FULLY_CONNECTED v12', reason: 'T 2 is older than ...' },
      ]),
    ).toEqual({
      litert: { runtime: 'L 1', accuracy: 0.9, agreement_with_primary: 1 },
      'tfjs-tflite': { runtime: 'T 2', refused: 'no kernel for FULLY_CONNECTED v12' },
    });
  });

  it('accepts a run of one seed and a run of three seeds', () => {
    expect(metricsSchemaErrors(JSON.parse(serializeMetrics(sampleMetrics())))).toEqual([]);
    const seeds: SeedMetrics[] = [1, 2, 3].map((seed, i) => ({
      seed,
      models: { student: { accuracy: 0.9 + i / 100 }, student_baseline: { accuracy: 0.9 } },
      kd_gain: i / 100,
    }));
    const m: Metrics = { ...sampleMetrics(), seeds, summary: summarizeSeeds(seeds) };
    expect(metricsSchemaErrors(JSON.parse(serializeMetrics(m)))).toEqual([]);
  });

  it('rejects an unknown role, an accuracy above 1, a missing key, and seeds without a summary', () => {
    const m = JSON.parse(serializeMetrics(sampleMetrics()));
    expect(metricsSchemaErrors({ ...m, models: { ...m.models, studnet: {} } })).toContain('/models: property name must be valid');
    const high = structuredClone(m);
    high.models.student.accuracy = 1.5;
    expect(metricsSchemaErrors(high)).toEqual(['/models/student/accuracy: must be <= 1']);
    const { data: _data, ...noData } = m;
    expect(metricsSchemaErrors(noData)).toEqual(["/: must have required property 'data'"]);
    expect(
      metricsSchemaErrors({
        ...m,
        seeds: [
          { seed: 1, models: {} },
          { seed: 2, models: {} },
        ],
      }),
    ).toEqual(['/: must have property summary when property seeds is present']);
    // A timing has no place in metrics.json.
    expect(metricsSchemaErrors({ ...m, latency_ms: 3 })).toEqual(['/: must NOT have additional properties']);
  });
});

describe('canonical metrics.json', () => {
  it('sorts keys at every depth and keeps 6 decimal places, whatever the input order', () => {
    const a = serializeMetrics({ ...sampleMetrics(), kd_gain: 0.1 + 0.2 });
    const shuffled = JSON.parse(a, (_k, v) => (v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).reverse()) : v));
    expect(serializeMetrics(shuffled)).toBe(a);
    expect(a).toContain('"kd_gain": 0.3,');
    const keysInOrder = (v: unknown): boolean =>
      Array.isArray(v)
        ? v.every(keysInOrder)
        : v && typeof v === 'object'
          ? Object.keys(v).join() === Object.keys(v).sort().join() && Object.values(v).every(keysInOrder)
          : true;
    expect(keysInOrder(JSON.parse(a))).toBe(true);
    // Serializing what was read back changes nothing: the bytes are a fixed point.
    expect(serializeMetrics(JSON.parse(a))).toBe(a);
  });

  it('rounds floats, keeps integers and nulls, drops undefined', () => {
    expect(canonicalMetrics({ b: 1 / 3, a: 693962, c: [null, 2 / 3], d: undefined })).toEqual({ a: 693962, b: 0.333333, c: [null, 0.666667] });
    expect(JSON.stringify(canonicalMetrics({ x: -1e-9 }))).toBe('{"x":0}');
  });
});

describe('statistics over seeds', () => {
  it('mean and sample standard deviation', () => {
    expect(stat([1])).toEqual({ mean: 1, std: 0, n: 1 });
    const s = stat([0.97, 0.98, 0.99]);
    expect(s.n).toBe(3);
    expect(s.mean).toBeCloseTo(0.98, 12);
    expect(s.std).toBeCloseTo(0.01, 12);
  });

  it('summarizes every accuracy (tf.js and .tflite) and the KD gain, per key', () => {
    const seeds: SeedMetrics[] = [
      { seed: 1, models: { student: { accuracy: 0.97, tflite: { accuracy: 0.96 } as never }, student_baseline: { accuracy: 0.975 } }, kd_gain: -0.005 },
      { seed: 2, models: { student: { accuracy: 0.98, tflite: { accuracy: 0.98 } as never }, student_baseline: { accuracy: 0.97 } }, kd_gain: 0.01 },
      { seed: 3, models: { student: { accuracy: 0.99, tflite: { accuracy: 0.97 } as never }, student_baseline: { accuracy: 0.98 } }, kd_gain: 0.01 },
    ];
    const s = canonicalMetrics(summarizeSeeds(seeds));
    expect(s).toEqual({
      kd_gain: { mean: 0.005, n: 3, std: 0.00866 },
      'student.accuracy': { mean: 0.98, n: 3, std: 0.01 },
      'student.tflite.accuracy': { mean: 0.97, n: 3, std: 0.01 },
      'student_baseline.accuracy': { mean: 0.975, n: 3, std: 0.005 },
    });
  });
});
