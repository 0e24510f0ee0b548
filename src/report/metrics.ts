/**
 * metrics.json: the run's results as plain, stable data. Keys are sorted and floats rounded to a
 * fixed precision, so two runs of the same file, seed and backend are byte-identical and CI can
 * diff them. What varies between identical runs (timings, host, dates) goes to stages.json instead.
 */
import type { ModelRole, TfliteRuntime } from '../names.ts';
import type { RuntimeOutcome } from '../tflite/runtime/cross-check.ts';

/** What one TFLite runtime made of a .tflite file: its accuracy, or its refusal to load it. */
export interface TfliteRuntimeMetrics {
  /** The runtime and its version, e.g. `@tensorflow/tfjs-tflite 0.0.1-alpha.10`. */
  runtime: string;
  accuracy?: number;
  /** Share of test images where this runtime and the primary one pick the same class. */
  agreement_with_primary?: number;
  /** Why the runtime would not load the file: `no kernel for FULLY_CONNECTED v12` (it is older than that kernel). */
  refused?: string;
}

/** A .tflite file as evaluated by the TFLite runtimes on the test set. */
export interface TfliteMetrics {
  file: string;
  bytes: number;
  /** Accuracy in the primary runtime (`runtime`). */
  accuracy: number;
  /** Top-1 agreement with the float tf.js student / teacher. */
  agreement_with_student?: number;
  agreement_with_teacher?: number;
  /** The primary runtime and its version. */
  runtime: string;
  /** Every runtime kdq has, by name (`litert`, `tfjs-tflite`), the primary one included. */
  runtimes?: Partial<Record<TfliteRuntime, TfliteRuntimeMetrics>>;
  mode: string;
  input_type: string;
  output_type: string;
  /** Accuracy per true class of the file's predictions (`evaluation.metrics: perClass`). */
  per_class_accuracy?: (number | null)[];
  /** `confusion_matrix[label][predicted]`: image counts (`evaluation.metrics: confusion`). */
  confusion_matrix?: number[][];
}

/** evaluation.json's runtimes as metrics.json keeps them: no latency (it varies between identical runs). */
export function runtimeMetrics(outcomes: readonly RuntimeOutcome[]): Partial<Record<TfliteRuntime, TfliteRuntimeMetrics>> {
  const out: Partial<Record<TfliteRuntime, TfliteRuntimeMetrics>> = {};
  for (const o of outcomes) {
    out[o.runtime] =
      o.status === 'ran'
        ? { runtime: o.runtimeVersion, accuracy: o.accuracy, agreement_with_primary: o.top1Agreement }
        : { runtime: o.runtimeVersion, refused: `no kernel for ${o.missingKernel}` };
  }
  return out;
}

/** A teacher trained elsewhere (`teacher.model`), as kdq imported it. */
export interface ImportedTeacherMetrics {
  /** `onnx`, `tfjs-layers` or `tflite`. */
  format: string;
  /** The model file as the experiment names it. */
  file: string;
  /** Files it reads (model.json and its shards; an ONNX model and its external data). */
  files: number;
  /** Their total size. */
  bytes: number;
  /** sha256 of the model file. */
  sha256: string;
  /** Weights, when the format says. */
  params?: number;
  /** The runtime it ran in, e.g. `onnxruntime-node 1.31.1`. */
  runtime: string;
  /** `logits` or `probabilities` (taken as log-probabilities). */
  output: string;
  /** Test accuracy as imported, in its own runtime (before any fine-tuning). */
  accuracy: number;
  /** Epochs it was fine-tuned on the run's data (TF.js teachers), when it was. */
  fine_tuned_epochs?: number;
  /** Why the run has no teacher.tflite, when it has none. */
  no_tflite?: string;
}

export interface ModelMetrics {
  /** With training.earlyStopping: the 1-based epoch whose weights the model kept. */
  best_epoch?: number;
  params?: number;
  /** Accuracy of the tf.js model on the test set (fraction). */
  accuracy?: number;
  /** null for a class with no test image. */
  per_class_accuracy?: (number | null)[];
  tflite?: TfliteMetrics;
  /** The teacher only, when it was imported (`teacher.model`). */
  imported?: ImportedTeacherMetrics;
}

export type ModelsMetrics = Partial<Record<ModelRole, ModelMetrics>>;

export interface SeedMetrics {
  seed: number;
  models: ModelsMetrics;
  /** student accuracy minus student_baseline accuracy, when both were trained. */
  kd_gain?: number;
}

/**
 * timings.json: what varies between identical runs, kept out of metrics.json so that metrics
 * diff as identical. Per model role, the mean wall time per image of its .tflite file in the
 * runtime (input quantization and argmax included).
 */
export interface Timings {
  latency_ms_per_image: Partial<Record<ModelRole, number>>;
  runtime: Partial<Record<ModelRole, string>>;
}

export interface Stat {
  mean: number;
  std: number;
  n: number;
}

/** One epoch of a learning stage, as metrics.json's `curves` keep it. */
export interface CurvePoint {
  /** 1-based. */
  epoch: number;
  /** Mean training loss per image (the KD loss for the distilled student). */
  loss: number;
  /** Training accuracy over the epoch. */
  accuracy: number;
  /** The learning rate of the epoch (absent in histories written before schedules existed). */
  learning_rate?: number;
  /** Cross-entropy and accuracy on the held-out images (data.validationSplit > 0). */
  val_loss?: number;
  val_accuracy?: number;
}

/** The dataset as trained and tested on. */
export interface DataMetrics {
  source: string;
  train: number;
  test: number;
  sha256: string;
  /** Name of each class, when the data has names. */
  class_names?: string[];
  /** x = (value * scale - mean[c]) / std[c]; absent for uint8 data scaled by 1/255 and nothing else. */
  preprocessing?: { scale: number; mean?: number[]; std?: number[]; normalize: 'auto' | 'given' | 'none' };
}

export interface Metrics {
  experiment: string;
  seed: number;
  /** `kernels`: wasm only, the build of kdq's SIMD kernels (fma | plain | none). */
  backend: { name: string; tfjs: string; kernels?: string };
  data: DataMetrics;
  /** The first seed's models: the contract CI diffs. */
  models: ModelsMetrics;
  kd_gain?: number;
  /** Per-epoch training (and validation) curves of the first seed's learning stages, by role. */
  curves?: Partial<Record<ModelRole, CurvePoint[]>>;
  /** Present when evaluation.seeds has more than one seed. */
  seeds?: SeedMetrics[];
  summary?: Record<string, Stat>;
}

/** Decimal places kept for every float in metrics.json. */
export const FLOAT_DIGITS = 6;

/** Sample mean and standard deviation (n - 1 in the denominator; 0 for one value). */
export function stat(values: number[]): Stat {
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const varSum = values.reduce((a, b) => a + (b - mean) * (b - mean), 0);
  return { mean, std: n > 1 ? Math.sqrt(varSum / (n - 1)) : 0, n };
}

/** Mean and std over seeds of every accuracy in the per-seed metrics, plus the KD gain. */
export function summarizeSeeds(seeds: SeedMetrics[]): Record<string, Stat> {
  const series = new Map<string, number[]>();
  const add = (k: string, v: number | undefined) => {
    if (v === undefined) return;
    series.set(k, [...(series.get(k) ?? []), v]);
  };
  for (const s of seeds) {
    for (const [role, m] of Object.entries(s.models)) {
      add(`${role}.accuracy`, m?.accuracy);
      add(`${role}.tflite.accuracy`, m?.tflite?.accuracy);
    }
    add('kd_gain', s.kd_gain);
  }
  return Object.fromEntries([...series].map(([k, v]) => [k, stat(v)]));
}

/** Recursively sorts keys and rounds floats: the canonical form written to disk. */
export function canonicalMetrics(v: unknown): unknown {
  if (typeof v === 'number') {
    if (Number.isInteger(v)) return v;
    return Number(v.toFixed(FLOAT_DIGITS));
  }
  if (Array.isArray(v)) return v.map(canonicalMetrics);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) {
      const x = (v as Record<string, unknown>)[k];
      if (x !== undefined) out[k] = canonicalMetrics(x);
    }
    return out;
  }
  return v;
}

export function serializeMetrics(m: Metrics | Timings): string {
  return JSON.stringify(canonicalMetrics(m), null, 2) + '\n';
}
