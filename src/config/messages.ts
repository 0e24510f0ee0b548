/**
 * Turns ajv's raw errors ("must be > 0") into messages that say what was expected, what was
 * written and how to fix it ("must be > 0, got -1: the temperature divides the logits").
 */
import type { ErrorObject } from 'ajv';
import { LAYER_TYPES } from '../names.ts';
import { didYouMean } from '../util/suggest.ts';

/** A schema problem at a key path, before it is given a file position. */
export interface PathIssue {
  path: (string | number)[];
  message: string;
  /** Point at the key (unknown or missing keys) rather than the value. */
  prefer: 'key' | 'value';
}

/** Why a bound exists, by key name, appended to range errors. */
const WHY: Record<string, string> = {
  temperature: 'the temperature divides the logits',
  epochs: 'training needs at least one pass over the data',
  batchSize: 'a batch needs at least one image',
  learningRate: 'a zero or negative step size does not learn',
  momentum: 'momentum is a fraction in [0, 1)',
  validationSplit: 'hold out less than half of the training images for validation',
  rate: 'a dropout rate of 1 would drop every input',
  hardWeight: 'loss weights cannot be negative',
  softWeight: 'loss weights cannot be negative',
  calibrationSamples: 'calibration needs at least one image',
  percentile: 'a percentile is in (0, 100]',
  trainLimit: 'null uses every image',
  testLimit: 'null uses every image',
  filters: 'a layer has from one output channel up to 65,536',
  units: 'a layer has from one output unit up to 1,048,576 (a dense layer of a million units on a million inputs is 4 TB of weights)',
  depthMultiplier: 'each input channel gives from 1 to 1,024 output channels',
  epsilon: 'epsilon keeps the variance away from zero',
  seed: 'seeds are unsigned 32-bit integers',
  weightDecay: 'decay shrinks each weight by a fraction of itself every step; 0 turns it off',
  labelSmoothing: 'smoothing moves this fraction of the target off the true class; 0 turns it off',
  clipNorm: 'the largest gradient norm kept is positive; null turns clipping off',
  patience: 'training stops after this many epochs without improvement',
  minDelta: 'the least improvement that counts is 0 or more',
  every: 'the step schedule changes the rate every N >= 1 epochs',
  factor: 'the step schedule multiplies the rate by a factor in (0, 1]',
  warmupEpochs: 'warm-up lasts 0 or more epochs',
  minLearningRate: 'the cosine decays towards a rate of 0 or more',
  scale: 'the teacher sees pixel * scale',
  std: "the std divides the teacher's input",
};

const SIZE_KEYS = new Set(['kernelSize', 'strides', 'poolSize']);

/** A short rendering of a written value for messages. */
export function show(v: unknown): string {
  if (v === null) return 'null';
  // Control characters (a NUL in a name) are shown escaped, never sent raw to the terminal; a
  // long string is cut so that a hostile value cannot flood the error output.
  if (typeof v === 'string') {
    // Control characters are exactly what must not reach a terminal raw.
    // eslint-disable-next-line no-control-regex
    const safe = v.replace(/[\u0000-\u001f\u007f]/g, (c) => JSON.stringify(c).slice(1, -1));
    return `'${safe.length > 80 ? `${safe.slice(0, 80)}...` : safe}'`;
  }
  if (Array.isArray(v)) return v.length <= 4 ? JSON.stringify(v) : `a list of ${v.length} items`;
  if (typeof v === 'object') return 'a mapping';
  return String(v);
}

function expectedType(type: string | string[], key: string | undefined): string {
  const types = Array.isArray(type) ? type : [type];
  if (types.includes('array') && types.includes('integer') && key && SIZE_KEYS.has(key)) {
    return `a positive integer or a pair [height, width]${types.includes('null') ? ' or null' : ''}`;
  }
  const words: Record<string, string> = {
    integer: 'a whole number',
    number: 'a number',
    string: 'a string',
    boolean: 'true or false',
    object: 'a mapping of keys',
    array: 'a list',
    null: 'null',
  };
  return types.map((t) => words[t] ?? t).join(' or ');
}

/** Where a key belongs, for messages: `for a conv2d layer`, `in 'distillation'`, `in teacher.layers.3`. */
function describeFix(path: readonly (string | number)[], parentDescription: string | undefined): string {
  const m = parentDescription?.match(/^Arguments of a '(\w+)' layer/);
  if (m) return ` for a ${m[1]} layer`;
  const last = path[path.length - 1];
  if (typeof last === 'string') return ` in '${last}'`;
  if (typeof last === 'number') return ` in ${path.join('.')}`;
  return ' at the top level';
}

/** A string that reads as a number was probably quoted or tagged by mistake: say so. */
function numericString(v: unknown): string {
  return typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))
    ? ` (a string: the file quotes or tags it, e.g. '4' or !!float 4, which YAML 1.2 reads as text; write the number bare, as 4)`
    : '';
}

/** The user-facing issue for one ajv error, or undefined for errors that only echo others. */
export function translateAjvError(e: ErrorObject): PathIssue | undefined {
  const path: (string | number)[] = e.instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
  const last = path[path.length - 1];
  const key = typeof last === 'string' ? last : typeof path[path.length - 2] === 'string' ? String(path[path.length - 2]) : undefined;
  const parent = e.parentSchema as { description?: string; properties?: Record<string, unknown> } | undefined;
  const got = show(e.data);
  const why = key && WHY[key] ? `: ${WHY[key]}` : '';
  // A size (`kernelSize: 3` or `[3, 5]`) is an anyOf of an integer and a pair: a whole number or a
  // list is judged by its own branch (`must be >= 1, got 0`); anything else gets one message.
  const branch = /\/anyOf\/(\d+)\//.exec(e.schemaPath);
  if (branch && key && SIZE_KEYS.has(typeof last === 'number' ? String(path[path.length - 2]) : key)) {
    const sizeValue = typeof last === 'number' ? [] : e.data;
    const own = Number.isInteger(sizeValue) ? '0' : Array.isArray(sizeValue) ? '1' : null;
    if (e.keyword === 'type' || branch[1] !== own) return undefined;
  }
  // An imported teacher's mean and std are a number or one per channel: judged by the branch of
  // what was written (`must be > 0, got 0`), or one message for anything else.
  const channel = path[0] === 'teacher' ? /^#\/properties\/(?:mean|std)\/anyOf(?:\/(\d+))?/.exec(e.schemaPath) : null;
  if (channel) {
    const own = typeof last === 'number' || Array.isArray(e.data) ? '1' : typeof e.data === 'number' ? '0' : null;
    if (channel[1] === undefined) {
      return own === null ? { path, prefer: 'value', message: `must be a number or a list of numbers (one per channel), got ${got}` } : undefined;
    }
    if (channel[1] !== own || /\/anyOf\/\d+\/type$/.test(e.schemaPath)) return undefined;
  }
  // A teacher needs layers or model: one message for the pair, not one per branch.
  if (/^#\/then\/properties\/teacher\/anyOf\//.test(e.schemaPath)) return undefined;
  switch (e.keyword) {
    case 'anyOf': {
      if (e.schemaPath === '#/then/properties/teacher/anyOf') {
        return {
          path,
          prefer: 'key',
          message:
            "missing required key 'layers' or 'model': list the layers of a teacher kdq trains, or give model: PATH of a teacher trained elsewhere (.onnx, TF.js model.json or .tflite)",
        };
      }
      if (key && SIZE_KEYS.has(key)) {
        if (Number.isInteger(e.data) || Array.isArray(e.data)) return undefined;
        const nullable = ((e.schema as { type?: string }[] | undefined) ?? []).some((b) => b.type === 'null');
        return { path, prefer: 'value', message: `must be a positive integer or a pair [height, width]${nullable ? ' or null' : ''}, got ${got}` };
      }
      return { path, prefer: 'value', message: `${e.message ?? 'is invalid'}, got ${got}` };
    }
    case 'if':
      // "must match then schema" adds nothing to the errors of the branch itself.
      return undefined;
    case 'additionalProperties': {
      const prop = String((e.params as { additionalProperty: string }).additionalProperty);
      const allowed = Object.keys(parent?.properties ?? {});
      const hint = didYouMean(prop, allowed) || `; allowed keys: ${allowed.join(', ')}`;
      return {
        path: [...path, prop],
        prefer: 'key',
        message: `unknown key '${prop}'${describeFix(path, parent?.description)}${hint}`,
      };
    }
    case 'required': {
      const missing = String((e.params as { missingProperty: string }).missingProperty);
      let hint = '';
      if (missing === 'name') hint = ': every experiment needs a name, e.g. name: kd-mnist';
      else if (missing === 'files') hint = ": source 'idx' needs the paths of trainImages, trainLabels, testImages and testLabels";
      else if (missing === 'urls') hint = ": source 'download' needs url and sha256 of trainImages, trainLabels, testImages and testLabels";
      else if (missing === 'layers') hint = ': list the layers of the network';
      else if (missing === 'teacher' || missing === 'student') hint = `: describe the ${missing} network, at least ${missing}: { layers: [...] }`;
      else if (missing === 'inputs') hint = ': it joins two or more earlier layers: list their names, e.g. inputs: [shortcut, bn2]';
      else if (missing === 'type' && path[path.length - 2] === 'layers') hint = `: every layer starts with its type, one of ${LAYER_TYPES.join(', ')}`;
      return { path: [...path, missing], prefer: 'key', message: `missing required key '${missing}'${describeFix(path, parent?.description)}${hint}` };
    }
    case 'enum': {
      const allowed = (e.params as { allowedValues: unknown[] }).allowedValues.map(String);
      const isLayerType = last === 'type' && path[path.length - 3] === 'layers';
      const what = isLayerType ? 'layer type' : key === undefined ? 'value' : typeof last === 'number' ? `${key} item` : key;
      if (typeof e.data !== 'string') return { path, prefer: 'value', message: `must be one of ${allowed.join(', ')}; got ${got}` };
      const dym = didYouMean(e.data, isLayerType ? LAYER_TYPES : allowed);
      return { path, prefer: 'value', message: `unknown ${what} ${got}${dym || `; expected one of ${allowed.join(', ')}`}` };
    }
    case 'type': {
      const t = (e.params as { type: string | string[] }).type;
      const expected = expectedType(t, key);
      const nonInteger = t === 'integer' && typeof e.data === 'number';
      return { path, prefer: 'value', message: nonInteger ? `must be a whole number, got ${got}` : `must be ${expected}, got ${got}${numericString(e.data)}` };
    }
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum': {
      const { comparison, limit } = e.params as { comparison: string; limit: number };
      return { path, prefer: 'value', message: `must be ${comparison} ${limit}, got ${got}${why}` };
    }
    case 'pattern': {
      if (key === 'name' && path[path.length - 3] === 'layers') {
        return {
          path,
          prefer: 'value',
          message: `${got} is not a valid layer name: use letters, digits, '_', '.' and '-', starting with a letter or '_', e.g. bn2 or stack1.add`,
        };
      }
      if (key === 'name') {
        return {
          path,
          prefer: 'value',
          message: `${got} is not a valid name: use lowercase letters, digits, '.', '_' and '-', starting with a letter or digit and without '..' (it becomes a folder name)`,
        };
      }
      if (key === 'sha256') return { path, prefer: 'value', message: `${got} is not a sha256: write the 64 hex digits of the file's checksum` };
      if (key === 'url') return { path, prefer: 'value', message: `${got} is not an http(s) URL` };
      return { path, prefer: 'value', message: `${got} does not match ${(e.params as { pattern: string }).pattern}` };
    }
    case 'minItems':
    case 'maxItems': {
      if (key && SIZE_KEYS.has(key)) return { path, prefer: 'value', message: `must be a positive integer or a pair [height, width], got ${got}` };
      const limit = (e.params as { limit: number }).limit;
      if (e.keyword === 'minItems') {
        return {
          path,
          prefer: 'key',
          message: `must list at least ${limit} item${limit === 1 ? '' : 's'}, got an empty list${key === 'seeds' ? '; write e.g. seeds: [1] or remove the key to use the experiment seed' : ''}`,
        };
      }
      return { path, prefer: 'key', message: `must list at most ${limit} items, got ${got}` };
    }
    case 'uniqueItems': {
      const { i, j } = e.params as { i: number; j: number };
      const list = e.data as unknown[];
      return { path, prefer: 'key', message: `lists ${show(list[i])} twice (items ${j} and ${i}); remove the duplicate` };
    }
    case 'minLength':
      return { path, prefer: 'value', message: 'must not be empty' };
    case 'maxLength':
      return { path, prefer: 'value', message: `must be at most ${(e.params as { limit: number }).limit} characters` };
    case 'const':
      return { path, prefer: 'value', message: `must be ${show((e.params as { allowedValue: unknown }).allowedValue)}, got ${got}` };
    default:
      return { path, prefer: 'value', message: `${e.message ?? 'is invalid'}, got ${got}` };
  }
}
