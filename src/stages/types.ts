/**
 * kdq's stage kinds as types: each kind's config (its slice of the experiment, the part that is
 * hashed), the stage as the planner makes it (one member of a union discriminated by `kind`), and
 * the inputs it receives by name (input name -> the config type of the stage planned there).
 */
import type { DataConfig, DistillationConfig, EvaluationConfig, LayerSpec, QuantizationConfig, TrainingConfig } from '../config/types.ts';
import type { ModelRole, QuantMode, StageKind, TeacherFormat, TeacherInputLayout, TeacherOutput } from '../names.ts';
import type { Stage } from '../pipeline/graph.ts';
import type { StageDefinition } from '../pipeline/stage.ts';

/**
 * `data`: the data config; `seed` only when a validation split makes the data depend on it;
 * `testSplitSeed` (the experiment's seed) only when a `testSplit` draws the test set.
 */
export type DataStageConfig = DataConfig & { seed?: number; testSplitSeed?: number };

/** `teacher`, `student`, `baseline`: the network, how it trains, and (student only) the KD loss. */
export interface ModelStageConfig {
  layers: LayerSpec[];
  training: TrainingConfig;
  seed: number;
  /** `student` only. */
  distillation?: Omit<DistillationConfig, 'baseline'>;
  /**
   * Present when data.validationSplit > 0: the stage validates on the held-out images every epoch
   * and records it in its history (absent otherwise, so files without a split keep their keys).
   */
  validation?: true;
}

/**
 * `imported-teacher`: a teacher trained elsewhere, run in its own runtime; its key also holds the
 * sha256 of every file it reads (a fingerprint). Without fine-tuning it has no seed and serves
 * every seed and sweep point; `training` and `seed` only when a TF.js teacher is fine-tuned.
 */
export interface ImportedTeacherStageConfig {
  /** The model file, relative to the experiment file. */
  model: string;
  format: TeacherFormat;
  inputLayout: TeacherInputLayout;
  output: TeacherOutput;
  scale: number;
  mean: number | number[];
  std: number | number[];
  /** Fine-tuning (TF.js teachers, `teacher.training.epochs > 0`) only. */
  training?: TrainingConfig;
  /** Fine-tuning only: the shuffle of its epochs. */
  seed?: number;
}

/** What a stage that reads a teacher is given: one kdq trained, or one it imported. */
export type TeacherStageConfig = ModelStageConfig | ImportedTeacherStageConfig;

/** `soft-labels` has no settings of its own: its output depends only on the teacher and the data. */
export type SoftLabelsStageConfig = Record<string, never>;

/** `export`: a float32 file (`mode: 'none'`), or the student quantized as `quantization` says. */
export type ExportStageConfig = { mode: 'none' } | (QuantizationConfig & { mode: Exclude<QuantMode, 'none'> });

/** Models an evaluation compares its file's predictions with. */
export type ReferenceRole = Extract<ModelRole, 'teacher' | 'student'>;

export interface EvaluateStageConfig {
  metrics: EvaluationConfig['metrics'];
  /** Roles whose model stages this one is compared with (agreement); each is an input of that name. */
  compareWith: ReferenceRole[];
}

export interface ReportStageConfig {
  name: string;
  description: string;
  seeds: number[];
  metrics: EvaluationConfig['metrics'];
  /** Roles reported, in order. */
  roles: ModelRole[];
  /** `evaluation.teacherSeed`: when set, the one teacher's metrics are reported under every seed. */
  teacherSeed: number | null;
}

export type DataStage = Stage<'data', DataStageConfig>;
export type TeacherStage = Stage<'teacher', ModelStageConfig> & { role: 'teacher' };
export type ImportedTeacherStage = Stage<'imported-teacher', ImportedTeacherStageConfig> & { role: 'teacher' };
export type SoftLabelsStage = Stage<'soft-labels', SoftLabelsStageConfig>;
export type StudentStage = Stage<'student', ModelStageConfig> & { role: 'student' };
export type BaselineStage = Stage<'baseline', ModelStageConfig> & { role: 'student_baseline' };
export type ModelStage = TeacherStage | StudentStage | BaselineStage;
export type ExportStage = Stage<'export', ExportStageConfig> & { role: ModelRole };
export type EvaluateStage = Stage<'evaluate', EvaluateStageConfig> & { role: ModelRole };
export type ReportStage = Stage<'report', ReportStageConfig>;

/** Every stage kdq plans. */
export type KdStage =
  DataStage | TeacherStage | ImportedTeacherStage | SoftLabelsStage | StudentStage | BaselineStage | ExportStage | EvaluateStage | ReportStage;

/** What each kind reads, by input name. */
export interface StageInputConfigs {
  data: Record<string, never>;
  teacher: { data: DataStageConfig };
  'imported-teacher': { data: DataStageConfig };
  'soft-labels': { teacher: TeacherStageConfig; data: DataStageConfig };
  student: { softLabels: SoftLabelsStageConfig; data: DataStageConfig };
  baseline: { data: DataStageConfig };
  /** `data` is read for the input shape and (quantized files) the calibration images. */
  export: { model: TeacherStageConfig; data: DataStageConfig };
  evaluate: { export: ExportStageConfig; data: DataStageConfig; teacher?: TeacherStageConfig; student?: ModelStageConfig };
  /** Every stage whose outputs metrics.json is made of, by stage id. */
  report: Record<string, unknown>;
}

export type StageOf<K extends StageKind> = Extract<KdStage, { kind: K }>;

/** The definition of kind K, typed with its stage and inputs. */
export type KdStageDefinition<K extends StageKind> = StageDefinition<StageOf<K>, StageInputConfigs[K]>;
