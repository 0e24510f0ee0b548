import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadExperiment } from '../../src/config/load.ts';
import { checkExperimentSchema, experimentValidator } from '../../src/config/schema.ts';
import { ConfigError, type ConfigIssue } from '../../src/errors.ts';
import { METRICS } from '../../src/names.ts';
import type { LayerSpec } from '../../src/config/types.ts';
import { trainedTeacher } from './trained-teacher.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const EXPERIMENTS = path.join(ROOT, 'experiments');
const VALID = path.join(ROOT, 'test/fixtures/valid');
const tmp = mkdtempSync(path.join(tmpdir(), 'kdq-load-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The issues of the ConfigError `p` rejects with (fails the test if it resolves or throws anything else). */
async function issuesOf(p: Promise<unknown>): Promise<ConfigIssue[]> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConfigError);
  return (err as ConfigError).issues;
}

function writeTmp(name: string, text: string): string {
  const file = path.join(tmp, name);
  writeFileSync(file, text);
  return file;
}

describe('experiments/', () => {
  const files = readdirSync(EXPERIMENTS).filter((f) => f.endsWith('.yaml'));

  it('has the eleven documented experiments, each pointing the YAML language server at the schema', async () => {
    expect(files.sort()).toEqual([
      'kd-cifar10.yaml',
      'kd-fashion-mnist.yaml',
      'kd-mnist-1k-student.yaml',
      'kd-mnist-hinton.yaml',
      'kd-mnist-pytorch-teacher.yaml',
      'kd-mnist-quick.yaml',
      'kd-mnist-tiny.yaml',
      'kd-mnist-transfer.yaml',
      'kd-mnist.yaml',
      'kd-wine.yaml',
      'resnet-fashion-mnist.yaml',
      'resnet8-cifar10.yaml',
    ]);
    const { readFile } = await import('node:fs/promises');
    for (const f of files) {
      expect((await readFile(path.join(EXPERIMENTS, f), 'utf8')).split('\n')[0]).toBe('# yaml-language-server: $schema=../schemas/experiment.schema.json');
    }
  });

  it.each(files)('%s loads cleanly and its name matches the file', async (f) => {
    const loaded = await loadExperiment(path.join(EXPERIMENTS, f));
    expect(loaded.experiment.name).toBe(f.replace(/\.yaml$/, ''));
    expect(loaded.file).toBe(path.join(EXPERIMENTS, f));
    expect(loaded.dir).toBe(EXPERIMENTS);
    expect(loaded.sources[0]).toBe(loaded.file);
  });

  it('kd-mnist is the notebook done right', async () => {
    const { experiment: e, sources } = await loadExperiment(path.join(EXPERIMENTS, 'kd-mnist.yaml'));
    expect(sources).toHaveLength(1);
    expect(e.seed).toBe(1);
    expect(e.data).toEqual({ source: 'mnist', trainLimit: null, testLimit: null, validationSplit: 0 });
    expect(trainedTeacher(e.teacher).layers.map((l) => l.type)).toEqual(['conv2d', 'maxPooling2d', 'flatten', 'dense', 'dense']);
    expect(trainedTeacher(e.teacher).layers[0]).toEqual({
      type: 'conv2d',
      filters: 32,
      kernelSize: 3,
      strides: 1,
      padding: 'valid',
      activation: 'relu',
      useBias: true,
      kernelInitializer: 'glorotUniform',
    });
    // Keras' initializer on every kernel, as the notebook trained.
    for (const l of [...trainedTeacher(e.teacher).layers, ...e.student.layers]) {
      if (l.type === 'conv2d' || l.type === 'dense') expect(l.kernelInitializer).toBe('glorotUniform');
    }
    expect(e.student.layers[0]).toMatchObject({ filters: 16 });
    expect(e.student.layers[3]).toMatchObject({ units: 64, activation: 'relu' });
    expect(e.teacher.training).toEqual({ epochs: 3, batchSize: 32, optimizer: 'adam', learningRate: 0.001, momentum: 0.9, shuffle: true });
    expect(e.distillation).toEqual({ temperature: 5, hardWeight: 0.5, softWeight: 0.5, loss: 'kl', temperatureSquared: true, baseline: true });
    expect(e.quantization).toMatchObject({ mode: 'int8', calibrationSamples: 100, inputType: 'float32', outputType: 'float32' });
    expect(e.evaluation).toEqual({ seeds: [1], teacherSeed: null, metrics: [...METRICS] });
  });

  it('kd-mnist-quick inherits everything but the limits and epochs', async () => {
    const quick = await loadExperiment(path.join(EXPERIMENTS, 'kd-mnist-quick.yaml'));
    const full = await loadExperiment(path.join(EXPERIMENTS, 'kd-mnist.yaml'));
    expect(quick.sources).toEqual([path.join(EXPERIMENTS, 'kd-mnist-quick.yaml'), path.join(EXPERIMENTS, 'kd-mnist.yaml')]);
    expect(quick.experiment.data).toMatchObject({ trainLimit: 2000, testLimit: 1000 });
    expect(quick.experiment.teacher.training.epochs).toBe(1);
    expect(quick.experiment.student.training.epochs).toBe(1);
    expect(trainedTeacher(quick.experiment.teacher).layers).toEqual(trainedTeacher(full.experiment.teacher).layers);
    expect(quick.experiment.distillation).toEqual(full.experiment.distillation);
    expect(quick.raw).not.toHaveProperty('extends');
  });

  it('kd-mnist-hinton uses T = 20 and MLPs that start with flatten', async () => {
    const { experiment: e } = await loadExperiment(path.join(EXPERIMENTS, 'kd-mnist-hinton.yaml'));
    expect(e.distillation.temperature).toBe(20);
    const units = (ls: LayerSpec[]) => ls.flatMap((l) => (l.type === 'dense' ? [l.units] : []));
    expect(units(trainedTeacher(e.teacher).layers)).toEqual([1200, 1200, 10]);
    expect(units(e.student.layers)).toEqual([800, 800, 10]);
    expect(trainedTeacher(e.teacher).layers.some((l) => l.type === 'dropout')).toBe(true);
    expect(e.student.layers[0]!.type).toBe('flatten');
    // The README's table: the paper's two-pixel jitter on the teacher only, a student without
    // dropout, three student seeds distilled from one teacher.
    expect(trainedTeacher(e.teacher).training.augment).toEqual({ translate: 2 });
    expect(e.student.training.augment).toBeUndefined();
    expect(e.student.layers.some((l) => l.type === 'dropout')).toBe(false);
    expect(e.evaluation.seeds).toEqual([1, 2, 3]);
    expect(e.evaluation.teacherSeed).toBe(1);
  });
});

describe('the KD-gain experiments (docs/kd-gain.md)', () => {
  it("kd-mnist-transfer reuses kd-mnist-tiny's one teacher, and both students learn from a transfer set", async () => {
    const { experiment: tiny } = await loadExperiment(path.join(EXPERIMENTS, 'kd-mnist-tiny.yaml'));
    const { experiment: transfer } = await loadExperiment(path.join(EXPERIMENTS, 'kd-mnist-transfer.yaml'));
    expect(transfer.teacher).toEqual(tiny.teacher);
    expect(transfer.data).toEqual(tiny.data);
    expect(tiny.teacher.training).not.toHaveProperty('trainLimit');
    for (const e of [tiny, transfer]) {
      expect(e.evaluation.seeds).toEqual([1, 2, 3, 4, 5]);
      expect(e.evaluation.teacherSeed).toBe(1);
      expect(e.distillation.baseline).toBe(true);
    }
    expect([tiny.student.training.trainLimit, transfer.student.training.trainLimit]).toEqual([1000, 500]);
  });
});

describe('defaults', () => {
  it('a file that writes every default resolves exactly like one that omits them', async () => {
    const omitted = await loadExperiment(path.join(VALID, 'omitted-defaults.yaml'));
    const written = await loadExperiment(path.join(VALID, 'written-defaults.yaml'));
    expect(written.experiment).toEqual(omitted.experiment);
    // Same key order too, so anything that hashes JSON.stringify sees the same bytes.
    expect(JSON.stringify(written.experiment)).toBe(JSON.stringify(omitted.experiment));
  });

  it('fills tf.js layer defaults: pool strides = poolSize, batch norm 0.99 / 0.001, depthMultiplier 1', async () => {
    const { experiment: e } = await loadExperiment(path.join(VALID, 'omitted-defaults.yaml'));
    expect(trainedTeacher(e.teacher).layers[1]).toEqual({ type: 'batchNormalization', momentum: 0.99, epsilon: 0.001 });
    expect(trainedTeacher(e.teacher).layers[2]).toEqual({ type: 'maxPooling2d', poolSize: 2, strides: 2, padding: 'valid' });
    expect(e.student.layers[0]).toMatchObject({ depthMultiplier: 1, strides: 1, padding: 'valid', activation: 'linear', useBias: true });
    expect(e.description).toBe('');
  });

  it('training.trainLimit enters the resolved config only when it limits, so null keeps the old stage keys', async () => {
    const path0 = path.join(VALID, 'omitted-defaults.yaml');
    const { experiment: none } = await loadExperiment(path0);
    expect(none.student.training).not.toHaveProperty('trainLimit');
    const { experiment: nulled } = await loadExperiment(path0, { set: ['student.training.trainLimit=null'] });
    expect(JSON.stringify(nulled.student.training)).toBe(JSON.stringify(none.student.training));
    const { experiment: e } = await loadExperiment(path0, { set: ['student.training.trainLimit=500', 'evaluation.teacherSeed=3'] });
    expect(e.student.training.trainLimit).toBe(500);
    expect(e.teacher.training).not.toHaveProperty('trainLimit');
    expect(e.evaluation.teacherSeed).toBe(3);
    expect(none.evaluation.teacherSeed).toBeNull();
  });

  it('threads and kernelInitializer enter the resolved config only when not their defaults (1, auto), keeping old stage keys', async () => {
    const path0 = path.join(VALID, 'omitted-defaults.yaml');
    const { experiment: none } = await loadExperiment(path0);
    const { experiment: spelled } = await loadExperiment(path0, { set: ['teacher.training.threads=1', 'teacher.layers.0.kernelInitializer=auto'] });
    expect(JSON.stringify(spelled.teacher)).toBe(JSON.stringify(none.teacher));
    expect(none.teacher.training).not.toHaveProperty('threads');
    expect(trainedTeacher(none.teacher).layers[0]).not.toHaveProperty('kernelInitializer');
    const { experiment: e } = await loadExperiment(path0, { set: ['teacher.training.threads=2', 'teacher.layers.0.kernelInitializer=glorotUniform'] });
    expect(e.teacher.training.threads).toBe(2);
    expect(trainedTeacher(e.teacher).layers[0]).toMatchObject({ kernelInitializer: 'glorotUniform' });
  });

  it('evaluation.seeds defaults to [seed]', async () => {
    const { experiment: e } = await loadExperiment(path.join(VALID, 'omitted-defaults.yaml'), { set: ['seed=42'] });
    expect(e.evaluation.seeds).toEqual([42]);
  });
});

describe('extends', () => {
  it('merges mappings, replaces lists and values, and resolves data paths from the file that wrote them', async () => {
    const loaded = await loadExperiment(path.join(VALID, 'sub/child.yaml'));
    const e = loaded.experiment;
    expect(loaded.sources).toEqual([path.join(VALID, 'sub/child.yaml'), path.join(VALID, 'base.yaml')]);
    expect(e.name).toBe('child');
    expect(e.seed).toBe(7);
    // A child's null replaces the base's 1000.
    expect(e.data.trainLimit).toBeNull();
    // Written in base.yaml relative to valid/, restated relative to valid/sub/.
    expect(e.data.files!.trainImages).toBe(path.join('..', '..', 'data', 'train-images.idx'));
    expect(path.resolve(loaded.dir, e.data.files!.trainImages)).toBe(path.join(ROOT, 'test/fixtures/data/train-images.idx'));
    // Lists replace: the child's two layers, not a mix with the base's three.
    expect(e.student.layers.map((l) => l.type)).toEqual(['flatten', 'dense']);
    expect(trainedTeacher(e.teacher).layers).toHaveLength(3);
    // Mappings merge: epochs from the child, optimizer and momentum from the base.
    expect(e.student.training).toMatchObject({ epochs: 1, optimizer: 'sgd', momentum: 0.5, batchSize: 32 });
    expect(e.distillation).toMatchObject({ temperature: 8, hardWeight: 0.3, softWeight: 0.5 });
    expect(e.evaluation.seeds).toEqual([5]);
  });

  it('follows a chain of several files', async () => {
    const loaded = await loadExperiment(path.join(VALID, 'sub/grandchild.yaml'));
    expect(loaded.sources.map((s) => path.relative(VALID, s))).toEqual(['sub/grandchild.yaml', 'sub/child.yaml', 'base.yaml']);
    expect(loaded.experiment.distillation).toMatchObject({ temperature: 8, hardWeight: 0.3, softWeight: 2 });
  });

  it('reports an error written in the base at the base file, line and column', async () => {
    const child = path.join(tmp, 'child-of-bad.yaml');
    const base = writeTmp('bad-base.yaml', 'name: b\nteacher:\n  layers:\n    - { type: flatten }\n    - { type: dense, units: 0 }\n');
    writeFileSync(child, `extends: bad-base.yaml\nname: child\nstudent:\n  layers:\n    - { type: flatten }\n    - { type: dense, units: 10 }\n`);
    const issues = await issuesOf(loadExperiment(child));
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ line: 5, col: 29, path: 'teacher.layers.1.units' });
    expect(path.resolve(issues[0]!.file)).toBe(base);
  });
});

describe('--set', () => {
  const kdMnist = path.join(EXPERIMENTS, 'kd-mnist.yaml');

  it('parses values as YAML and applies them after extends', async () => {
    const { experiment: e, raw } = await loadExperiment(path.join(EXPERIMENTS, 'kd-mnist-quick.yaml'), {
      set: ['distillation.temperature=2', 'student.layers.0.filters=8', 'evaluation.seeds=[1,2]', 'data.trainLimit=null', 'quantization.mode=float16'],
    });
    expect(e.distillation.temperature).toBe(2);
    expect(e.student.layers[0]).toMatchObject({ type: 'conv2d', filters: 8 });
    expect(e.evaluation.seeds).toEqual([1, 2]);
    expect(e.data.trainLimit).toBeNull();
    expect(e.quantization.mode).toBe('float16');
    expect((raw as { distillation: { temperature: number } }).distillation.temperature).toBe(2);
  });

  it('creates missing mappings and appends at one past the end of a list', async () => {
    const { experiment: e } = await loadExperiment(path.join(VALID, 'omitted-defaults.yaml'), {
      set: ['evaluation.seeds=[3]', 'teacher.training.epochs=4', 'student.layers.4={type: activation, activation: softmax}'],
    });
    expect(e.teacher.training.epochs).toBe(4);
    expect(e.student.layers[4]).toEqual({ type: 'activation', activation: 'softmax' });
  });

  it('does not change the file it overrides for the next load', async () => {
    await loadExperiment(kdMnist, { set: ['student.layers.0.filters=4'] });
    const again = await loadExperiment(kdMnist);
    expect(again.experiment.student.layers[0]).toMatchObject({ filters: 16 });
  });

  it('reports bad values as `--set key=value` with the key path, all at once', async () => {
    const issues = await issuesOf(
      loadExperiment(kdMnist, { set: ['distillation.temperature=-1', 'student.layers.0.type=maxpool2d', 'distillation.temprature=3'] }),
    );
    expect(issues.map((i) => [i.file, i.line, i.path])).toEqual([
      ['--set distillation.temperature=-1', 0, 'distillation.temperature'],
      ['--set distillation.temprature=3', 0, 'distillation.temprature'],
      ['--set student.layers.0.type=maxpool2d', 0, 'student.layers.0.type'],
    ]);
    expect(issues[0]!.message).toContain('must be > 0, got -1');
    expect(issues[1]!.message).toContain("did you mean 'temperature'?");
    expect(issues[2]!.message).toContain("did you mean 'maxPooling2d'?");
  });

  it('rejects malformed arguments, paths through values, unsafe keys and tags', async () => {
    const issues = await issuesOf(
      loadExperiment(kdMnist, {
        set: ['temperature', 'seed.x=1', 'student.layers.9.filters=1', '__proto__.polluted=1', 'extends=other.yaml', 'seed=!!js/function f'],
      }),
    );
    const byArg = Object.fromEntries(issues.map((i) => [i.file, i.message]));
    expect(byArg['--set temperature']).toContain('expected key.path=value');
    expect(byArg['--set seed.x=1']).toContain("'seed' is 1, not a mapping or list");
    expect(byArg['--set student.layers.9.filters=1']).toContain('use an index from 0 to 4');
    expect(byArg['--set __proto__.polluted=1']).toContain('not a key of an experiment');
    expect(byArg['--set extends=other.yaml']).toContain('cannot be set on the command line');
    expect(byArg['--set seed=!!js/function f']).toContain('is not allowed');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('locates a schema error elsewhere in the file even when overrides are present', async () => {
    const file = writeTmp(
      'two-errors.yaml',
      'name: two\nseed: -3\nteacher:\n  layers: [{ type: flatten }, { type: dense, units: 10 }]\nstudent:\n  layers: [{ type: flatten }, { type: dense, units: 10 }]\n',
    );
    const issues = await issuesOf(loadExperiment(file, { set: ['distillation.loss=kld'] }));
    expect(issues.map((i) => [path.basename(i.file), i.line, i.col, i.path])).toEqual([
      ['--set distillation.loss=kld', 0, 0, 'distillation.loss'],
      ['two-errors.yaml', 2, 7, 'seed'],
    ]);
  });
});

describe('schema check', () => {
  it('compiles the schema once and validates raw documents', async () => {
    expect(experimentValidator()).toBe(experimentValidator());
    const { raw } = await loadExperiment(path.join(EXPERIMENTS, 'kd-mnist-quick.yaml'));
    expect(checkExperimentSchema(raw)).toEqual([]);
    const errors = checkExperimentSchema({ ...(raw as object), seed: 'one' });
    expect(errors.map((e) => [e.instancePath, e.keyword])).toEqual([['/seed', 'type']]);
  });
});

describe('whole-file errors', () => {
  it('reports every schema error of a file at once, in line order', async () => {
    const file = writeTmp(
      'many.yaml',
      [
        'name: Many',
        'teacher:',
        '  layers: [{ type: flatten }, { type: dense, units: 10 }]',
        '  training: { epochs: 0, optimiser: adam }',
        'student:',
        '  layers: [{ type: flatten }, { type: dense, units: 10, activation: relu7 }]',
        'distillation: { temperature: -1 }',
      ].join('\n'),
    );
    const issues = await issuesOf(loadExperiment(file));
    expect(issues.map((i) => `${i.line}:${i.col} ${i.path}`)).toEqual([
      '1:7 name',
      '4:23 teacher.training.epochs',
      '4:26 teacher.training.optimiser',
      '6:69 student.layers.1.activation',
      '7:30 distillation.temperature',
    ]);
    expect(issues[2]!.message).toBe("unknown key 'optimiser' in 'training'; did you mean 'optimizer'?");
    expect(issues[3]!.message).toBe("unknown activation 'relu7'; did you mean 'relu6'?");
  });

  it('refuses a file over 32 KiB before parsing it', async () => {
    const file = writeTmp('huge.yaml', `name: huge\ndescription: '${'x'.repeat(1024 * 1024)}'\n`);
    const issues = await issuesOf(loadExperiment(file));
    expect(issues).toHaveLength(1);
    expect(issues[0]!.message).toContain('over the 32768-byte limit');
  });

  it('rejects an alias bomb quickly', async () => {
    const levels = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 12; i++) {
      const prev = String.fromCharCode(96 + i);
      levels.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10).fill(`*${prev}`).join(', ')}]`);
    }
    const file = writeTmp('bomb.yaml', `name: bomb\n${levels.join('\n')}\n`);
    const started = performance.now();
    const issues = await issuesOf(loadExperiment(file));
    expect(performance.now() - started).toBeLessThan(2000);
    expect(issues[0]!.message).toContain('aliases expand too much');
  });

  it('reports a missing file as a ConfigError with exit code 2', async () => {
    const err = await loadExperiment(path.join(tmp, 'nope.yaml')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).code).toBe('E_CONFIG');
    expect((err as ConfigError).exitCode).toBe(2);
    expect((err as ConfigError).issues[0]!.message).toContain('does not exist');
  });

  it('accepts plain aliases within the limit', async () => {
    const file = writeTmp(
      'aliases.yaml',
      'name: aliases\nteacher:\n  layers: &net [{ type: flatten }, { type: dense, units: 10 }]\nstudent:\n  layers: *net\n',
    );
    const { experiment: e } = await loadExperiment(file);
    expect(e.student.layers).toEqual(trainedTeacher(e.teacher).layers);
  });
});
