/** A sweep point's metrics.json as the summary tests need it: a teacher, a student and, optionally, its int8 file. */
import type { Metrics } from '../../src/report/metrics.ts';

export function sweepMetrics(student: number, int8: { accuracy: number; bytes: number } | null, extra: Partial<Metrics> = {}): Metrics {
  return {
    experiment: 'x',
    seed: 1,
    backend: { name: 'wasm', tfjs: '4.22.0' },
    data: { source: 'mnist', train: 10, test: 10, sha256: 'aa' },
    models: {
      teacher: { accuracy: 0.9 },
      student: { accuracy: student },
      ...(int8
        ? {
            student_int8: {
              tflite: {
                file: 's.tflite',
                bytes: int8.bytes,
                accuracy: int8.accuracy,
                runtime: 'r',
                mode: 'int8',
                input_type: 'float32',
                output_type: 'float32',
              },
            },
          }
        : {}),
    },
    ...extra,
  };
}
