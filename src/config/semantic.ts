/**
 * Checks the schema cannot express: whether the networks can be built, whether the loss and the
 * quantization settings make sense together, whether the data files exist.
 */
import { whyNotRegularFile } from '../util/read-input-file.ts';
import { IDX_FILES } from '../names.ts';
import { MNIST_INPUT_SHAPE, inferShapes } from '../models/shapes.ts';
import type { Experiment } from './types.ts';
import type { PathIssue } from './messages.ts';
import { isPlainObject } from './merge.ts';
import { checkRecipes } from './recipe-checks.ts';
import { checkTeacher, layersOf } from './teacher-model.ts';

/** Which `data` keys belong to which source; a key given with another source is a mistake. */
const SOURCE_KEYS: Record<string, string> = { files: 'idx', urls: 'download', cacheDir: 'download', dir: 'fashion-mnist' };

export interface SemanticContext {
  /** The merged document before defaults (to see what the user actually wrote). */
  raw: unknown;
  /** Absolute path of a data file written at `data.files.<key>`, resolved from the file that wrote it. */
  resolveDataFile(key: string, value: string): string;
  /** Absolute path of `teacher.model`, resolved from the file that wrote it. */
  resolveTeacherModel(value: string): string;
}

export function checkSemantics(exp: Experiment, ctx: SemanticContext): PathIssue[] {
  const issues: PathIssue[] = [];
  const add = (path: (string | number)[], message: string, prefer: 'key' | 'value' = 'value'): void => {
    issues.push({ path, message, prefer });
  };

  for (const role of ['teacher', 'student'] as const) {
    const layers = layersOf(exp[role]);
    for (const s of inferShapes(layers, MNIST_INPUT_SHAPE).issues) {
      add([role, 'layers', s.index, s.key, ...(s.item === undefined ? [] : [s.item])], s.message);
    }
    layers.forEach((layer, i) => {
      if ('activation' in layer && layer.activation === 'softmax' && i !== layers.length - 1) {
        add(
          [role, 'layers', i, 'activation'],
          `softmax is allowed only as the final activation (layer ${layers.length - 1}), not on layer ${i}: a softmax inside the network squashes the features; use relu here`,
        );
      }
    });
  }

  for (const role of ['teacher', 'student'] as const) {
    const limit = exp[role].training.trainLimit;
    if (limit !== undefined && exp.data.trainLimit !== null && limit > exp.data.trainLimit) {
      add(
        [role, 'training', 'trainLimit'],
        `${limit} training images but data.trainLimit keeps only ${exp.data.trainLimit}; lower ${role}.training.trainLimit or raise data.trainLimit`,
      );
    }
  }
  if (exp.evaluation.teacherSeed !== null && exp.data.validationSplit > 0) {
    add(
      ['evaluation', 'teacherSeed'],
      `teacherSeed needs validationSplit: 0 (it is ${exp.data.validationSplit}): each seed holds out different validation images, so one teacher would have trained on another seed's held-out images; remove teacherSeed or set validationSplit: 0`,
    );
  }

  issues.push(...checkRecipes(exp, ctx.raw));
  issues.push(...checkTeacher(exp, ctx));

  const d = exp.distillation;
  if (d.hardWeight + d.softWeight <= 0) {
    add(['distillation', 'softWeight'], 'hardWeight + softWeight must be > 0, got 0: with both weights zero the student learns nothing; set softWeight: 0.5');
  }

  const q = exp.quantization;
  if (q.mode === 'int8' && exp.data.trainLimit !== null && q.calibrationSamples > exp.data.trainLimit) {
    add(
      ['quantization', 'calibrationSamples'],
      `${q.calibrationSamples} calibration images but data.trainLimit keeps only ${exp.data.trainLimit} training images; lower calibrationSamples or raise trainLimit`,
    );
  }
  for (const key of ['inputType', 'outputType'] as const) {
    if (q[key] !== 'float32' && q.mode !== 'int8') {
      add(['quantization', key], `${key} '${q[key]}' needs mode int8 (mode is '${q.mode}'): only a full-integer model has integer inputs and outputs; use float32 or mode: int8`);
    }
  }
  // Every layer kind kdq offers has an int8 TFLite kernel (CONV_2D, DEPTHWISE_CONV_2D,
  // MAX/AVERAGE_POOL_2D, MEAN, RESHAPE, FULLY_CONNECTED, RELU, RELU6, TANH, LOGISTIC, SOFTMAX, ADD,
  // CONCATENATION; batch norm is folded into the conv/dense before it where it can be and is
  // MUL then ADD elsewhere, dropout vanishes at inference), so mode int8 needs no layer check.

  const rawData = isPlainObject(ctx.raw) && isPlainObject(ctx.raw.data) ? ctx.raw.data : {};
  for (const [key, source] of Object.entries(SOURCE_KEYS)) {
    if (rawData[key] !== undefined && exp.data.source !== source) {
      add(['data', key], `'${key}' is used only with source '${source}' (source is '${exp.data.source}'); remove it or set source: ${source}`, 'key');
    }
  }
  if (exp.data.source === 'idx' && exp.data.files) {
    for (const key of IDX_FILES) {
      const written = exp.data.files[key];
      const abs = ctx.resolveDataFile(key, written);
      const why = whyNotRegularFile(abs);
      if (why !== null) add(['data', 'files', key], `file '${written}' ${why} (looked for ${abs}); name an IDX file, relative to the experiment file that names it`);
    }
  }
  if (exp.data.validationSplit > 0 && exp.data.trainLimit !== null && Math.floor(exp.data.trainLimit * exp.data.validationSplit) < 1) {
    add(['data', 'validationSplit'], `validationSplit ${exp.data.validationSplit} of trainLimit ${exp.data.trainLimit} holds out no image; raise one of them or set validationSplit: 0`);
  }
  return issues;
}
