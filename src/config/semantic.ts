/**
 * Checks the schema cannot express and that need no data: whether the loss and the quantization
 * settings make sense together, which data keys go with which source, whether the data files
 * exist. What depends on the data itself (layer shapes against the input, the last layer
 * against the classes) is checked once the data is probed (config/data-fit.ts).
 */
import { statSync } from 'node:fs';
import { whyNotRegularFile } from '../util/read-input-file.ts';
import { IDX_FILES, type DataSource } from '../names.ts';
import { cifarFileNames } from '../data/formats/cifar.ts';
import { DATA_KEY_SOURCES } from './defaults.ts';
import type { Experiment } from './types.ts';
import type { PathIssue } from './messages.ts';
import { isPlainObject } from './merge.ts';
import { checkRecipes } from './recipe-checks.ts';
import { checkTeacher, isImportedTeacher, layersOf } from './teacher-model.ts';

export interface SemanticContext {
  /** The merged document before defaults (to see what the user actually wrote). */
  raw: unknown;
  /** Absolute path of a data path written at `data.<keyPath>` (e.g. ['files', 'trainImages'], ['train']), resolved from the file that wrote it. */
  resolveDataPath(keyPath: string[], value: string): string;
  /** Absolute path of `teacher.model`, resolved from the file that wrote it. */
  resolveTeacherModel(value: string): string;
}

/** The data keys that are paths on disk (checked to exist), by source. */
export function dataPathKeys(source: DataSource): string[][] {
  switch (source) {
    case 'idx':
      return IDX_FILES.map((k) => ['files', k]);
    case 'cifar10':
    case 'cifar100':
      return [['dir']];
    case 'folder':
    case 'csv':
      return [['train'], ['test']];
    case 'npz':
      return [['file']];
    default:
      return [];
  }
}

/** Why `path` is not a folder (`does not exist`, `is a file, not a folder`), or null when it is one. */
function whyNotFolder(path: string): string | null {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) return 'does not exist';
  return st.isDirectory() ? null : 'is a file, not a folder';
}

function either(list: string[]): string {
  return list.length === 1
    ? `'${list[0]}'`
    : `${list
        .slice(0, -1)
        .map((s) => `'${s}'`)
        .join(', ')} or '${list[list.length - 1]}'`;
}

export function checkSemantics(exp: Experiment, ctx: SemanticContext): PathIssue[] {
  const issues: PathIssue[] = [];
  const add = (path: (string | number)[], message: string, prefer: 'key' | 'value' = 'value'): void => {
    issues.push({ path, message, prefer });
  };

  for (const role of ['teacher', 'student'] as const) {
    const layers = layersOf(exp[role]);
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
      add(
        ['quantization', key],
        `${key} '${q[key]}' needs mode int8 (mode is '${q.mode}'): only a full-integer model has integer inputs and outputs; use float32 or mode: int8`,
      );
    }
  }
  // Every layer kind kdq offers has an int8 TFLite kernel (CONV_2D, DEPTHWISE_CONV_2D,
  // MAX/AVERAGE_POOL_2D, MEAN, RESHAPE, FULLY_CONNECTED, RELU, RELU6, TANH, LOGISTIC, SOFTMAX, ADD,
  // CONCATENATION; batch norm is folded into the conv/dense before it where it can be and is
  // MUL then ADD elsewhere, dropout vanishes at inference), so mode int8 needs no layer check.

  const rawData = isPlainObject(ctx.raw) && isPlainObject(ctx.raw.data) ? ctx.raw.data : {};
  const data = exp.data;
  for (const [key, sources] of Object.entries(DATA_KEY_SOURCES)) {
    if (rawData[key] !== undefined && !sources.includes(data.source)) {
      const one = sources.length === 1;
      add(
        ['data', key],
        `'${key}' is used only with source ${either([...sources])} (source is '${data.source}'); remove it${one ? ` or set source: ${sources[0]}` : ''}`,
        'key',
      );
    }
  }
  for (const keyPath of dataPathKeys(data.source)) {
    const written = keyPath.reduce<unknown>((o, k) => (isPlainObject(o) ? o[k] : undefined), data);
    if (typeof written !== 'string') continue;
    const abs = ctx.resolveDataPath(keyPath, written);
    const folder = keyPath[0] === 'dir' || data.source === 'folder';
    const why = folder ? whyNotFolder(abs) : whyNotRegularFile(abs);
    const fix =
      data.source === 'idx' ? 'name an IDX file, relative to the experiment file that names it' : 'paths are relative to the experiment file that names them';
    if (why !== null) add(['data', ...keyPath], `${folder ? 'folder' : 'file'} '${written}' ${why} (looked for ${abs}); ${fix}`);
  }
  if (data.source === 'cifar10' || data.source === 'cifar100') {
    if ((rawData.dir === undefined) === (rawData.download === undefined)) {
      const both = rawData.dir !== undefined;
      add(
        ['data', both ? 'download' : 'source'],
        `source '${data.source}' reads either dir (the unpacked binary version) or download (fetched once), ${both ? 'not both: remove one' : 'and neither is given: add dir: FOLDER or download: { archive: { url, sha256 } }'}`,
        both ? 'key' : 'value',
      );
    }
    const d = isPlainObject(rawData.download) ? rawData.download : null;
    if (d && (d.archive === undefined) === (d.files === undefined)) {
      add(
        ['data', 'download'],
        `give either archive (the .tar.gz of the binary version) or files (each file by name), ${d.archive === undefined ? 'not neither' : 'not both'}`,
        'key',
      );
    }
    if (d && isPlainObject(d.files)) {
      const names = cifarFileNames(data.source);
      for (const name of Object.keys(d.files)) {
        if (!names.includes(name))
          add(['data', 'download', 'files', name], `'${name}' is not a file of the ${data.source} binary version; the files are ${names.join(', ')}`, 'key');
      }
    }
  }
  if (data.source === 'folder' || data.source === 'csv') {
    if ((rawData.test === undefined) === (rawData.testSplit === undefined)) {
      const both = rawData.test !== undefined;
      const what = data.source === 'folder' ? 'a test folder with the same class subfolders' : 'a test file with the same header';
      add(
        ['data', both ? 'testSplit' : 'train'],
        `source '${data.source}' needs either test (${what}) or testSplit (a fraction of train, e.g. 0.2), ${both ? 'not both: remove one' : 'and neither is given'}`,
        both ? 'key' : 'value',
      );
    }
  }
  // An imported teacher takes the pixels in [0, 1] and applies its own teacher.scale, mean and std;
  // its exported file and evaluation read the data as the student does, so the two must agree.
  if (isImportedTeacher(exp.teacher)) {
    for (const key of ['scale', 'mean', 'std', 'normalize'] as const) {
      if (rawData[key] !== undefined && !(key === 'normalize' && rawData[key] === 'none')) {
        add(
          ['data', key],
          `'${key}' is not supported with an imported teacher (teacher.model), which takes the pixels in [0, 1] and applies its own teacher.scale, mean and std; remove data.${key}`,
          'key',
        );
      }
    }
  }
  if ((rawData.normalize ?? (data.source === 'csv' ? 'auto' : 'none')) === 'auto') {
    for (const key of ['mean', 'std'] as const) {
      if (rawData[key] !== undefined) {
        add(
          ['data', key],
          `normalize is auto${rawData.normalize === undefined ? ` (the default for ${data.source})` : ''}, which computes mean and std from the training split; remove ${key}, or set normalize: none to use your own`,
          'key',
        );
      }
    }
  }
  if (exp.data.validationSplit > 0 && exp.data.trainLimit !== null && Math.floor(exp.data.trainLimit * exp.data.validationSplit) < 1) {
    add(
      ['data', 'validationSplit'],
      `validationSplit ${exp.data.validationSplit} of trainLimit ${exp.data.trainLimit} holds out no image; raise one of them or set validationSplit: 0`,
    );
  }
  return issues;
}
