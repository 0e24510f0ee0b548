/**
 * Planning an imported teacher (`teacher.model`): one seedless `teacher` stage of kind
 * `imported-teacher` serves every seed, the baselines wait for its checks without depending on it,
 * the teacher is exported only when it is a TF.js model, and its key is the sha256 of its files plus
 * its settings: editing a weight shard changes it, a new temperature does not.
 */
import { cp, mkdtemp, rm, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadExperiment } from '../../src/config/load.ts';
import { Cache } from '../../src/pipeline/cache.ts';
import { runGraph } from '../../src/pipeline/run.ts';
import { createStageDefinitions, planExperiment, StageServices } from '../../src/stages/index.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const TEACHERS = join(ROOT, 'test/fixtures/teachers');
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kdq-imported-plan-'));
  await cp(join(TEACHERS, 'tfjs-cnn'), join(dir, 'tfjs-cnn'), { recursive: true });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const STUDENT = 'student:\n  layers:\n    - { type: flatten }\n    - { type: dense, units: 10 }\n';

async function load(name: string, teacher: string, extra = '', set: string[] = []) {
  const file = join(dir, `${name}.yaml`);
  await writeFile(file, `name: ${name}\ndata: { source: mnist, trainLimit: 100, testLimit: 50 }\nteacher:\n${teacher}\n${STUDENT}${extra}`);
  return loadExperiment(file, { set });
}

/** Stage keys of a dry run with kdq's own stage definitions. */
async function keys(name: string, teacher: string, extra = '', set: string[] = []): Promise<Record<string, string>> {
  const loaded = await load(name, teacher, extra, set);
  const backend = { name: 'wasm', tfjs: '4.22.0', kernels: 'fma' } as const;
  const services = new StageServices({ baseDir: loaded.dir, dataCacheDir: join(dir, 'data'), progress: new Writable(), backend });
  const result = await runGraph(planExperiment(loaded.experiment), createStageDefinitions(services), {
    cache: new Cache(join(dir, 'cache')),
    env: { backend: 'wasm', tfjs: '4.22.0', kernels: 'fma' },
    dryRun: true,
  });
  return Object.fromEntries(result.stages.map((s) => [s.id, s.key]));
}

describe('planning an imported teacher', () => {
  it('an ONNX teacher: one seedless teacher and soft labels for every seed, baselines after it, no teacher export', async () => {
    const { experiment } = await loadExperiment(join(ROOT, 'experiments/kd-mnist-pytorch-teacher.yaml'));
    const g = planExperiment(experiment);
    const ids = Object.keys(g.stages);
    expect(ids.filter((id) => id.includes('teacher') || id.startsWith('soft-labels') || id === 'data')).toEqual(['data', 'teacher', 'soft-labels']);
    expect(g.stages.teacher).toMatchObject({ kind: 'imported-teacher', role: 'teacher', deps: ['data'], inputs: { data: 'data' } });
    expect(g.stages.teacher!.seed).toBeUndefined();
    expect(g.stages.teacher!.config).toEqual({
      model: 'teachers/mnist-cnn-pytorch.onnx',
      format: 'onnx',
      inputLayout: 'nchw',
      output: 'logits',
      scale: 1,
      mean: 0.1307,
      std: 0.3081,
    });
    for (const seed of [1, 2, 3, 4, 5]) {
      expect(g.stages[`student@s${seed}`]!.deps).toEqual(['soft-labels', 'data']);
      expect(g.stages[`baseline@s${seed}`]).toMatchObject({ deps: ['data'], after: ['teacher'] });
      expect(g.stages[`evaluate:student@s${seed}`]!.inputs.teacher).toBe('teacher');
    }
    expect(ids.some((id) => id.startsWith('export:teacher') || id.startsWith('evaluate:teacher'))).toBe(false);
    expect(g.stages.report!.config).toMatchObject({ roles: ['student', 'student_baseline', 'student_int8'] });
  });

  it('a TF.js teacher is exported and evaluated once; fine-tuned, it is a teacher per seed unless teacherSeed', async () => {
    const plain = planExperiment((await load('tfjs', '  model: tfjs-cnn/model.json', 'evaluation: { seeds: [1, 2] }\n')).experiment);
    expect(Object.keys(plain.stages).filter((id) => id.includes('teacher'))).toEqual(['teacher', 'export:teacher', 'evaluate:teacher']);
    expect(plain.stages['export:teacher']).toMatchObject({ inputs: { model: 'teacher', data: 'data' }, role: 'teacher' });

    const tuned = planExperiment(
      (await load('tuned', '  model: tfjs-cnn/model.json\n  training: { epochs: 1 }', 'evaluation: { seeds: [1, 2] }\n')).experiment,
    );
    expect(Object.keys(tuned.stages).filter((id) => id.startsWith('teacher'))).toEqual(['teacher@s1', 'teacher@s2']);
    expect(tuned.stages['teacher@s2']!.config).toMatchObject({ training: { epochs: 1 }, seed: 2 });
    expect(tuned.stages['baseline@s2']).toMatchObject({ after: ['teacher@s2'] });

    const once = planExperiment(
      (await load('once', '  model: tfjs-cnn/model.json\n  training: { epochs: 1 }', 'evaluation: { seeds: [1, 2], teacherSeed: 7 }\n')).experiment,
    );
    expect(Object.keys(once.stages).filter((id) => id.includes('teacher@'))).toEqual(['teacher@s7', 'export:teacher@s7', 'evaluate:teacher@s7']);
  });

  it('with a validation split, the training images (and so the soft labels) are per seed; the teacher is not', async () => {
    const { experiment } = await load('split', '  model: tfjs-cnn/model.json', 'evaluation: { seeds: [1, 2] }\n', ['data.validationSplit=0.1']);
    const g = planExperiment(experiment);
    expect(Object.keys(g.stages).filter((id) => /^(teacher|soft-labels|data)/.test(id))).toEqual([
      'data@s1',
      'teacher',
      'soft-labels@s1',
      'data@s2',
      'soft-labels@s2',
    ]);
    expect(g.stages['soft-labels@s2']!.inputs).toEqual({ teacher: 'teacher', data: 'data@s2' });
  });
});

describe("an imported teacher's key", () => {
  const TEACHER = '  model: tfjs-cnn/model.json';

  it('holds every file: editing a weight shard changes the teacher and everything learning from it, not the baseline', async () => {
    const before = await keys('shard', TEACHER);
    const shard = join(dir, 'tfjs-cnn', 'group1-shard2of2.bin');
    const bytes = await readFile(shard);
    bytes[100] ^= 1;
    await writeFile(shard, bytes);
    const after = await keys('shard', TEACHER);
    for (const id of ['teacher', 'soft-labels', 'student@s1', 'export:teacher', 'evaluate:teacher']) expect(after[id], id).not.toBe(before[id]);
    for (const id of ['data', 'baseline@s1', 'export:student_baseline@s1']) expect(after[id], id).toBe(before[id]);
    bytes[100] ^= 1;
    await writeFile(shard, bytes);
    expect(await keys('shard', TEACHER)).toEqual(before);
  });

  it('holds its settings, and serves every temperature (sweep point) and seed', async () => {
    const base = await keys('settings', TEACHER);
    const scaled = await keys('settings', `${TEACHER}\n  scale: 2`);
    expect(scaled.teacher).not.toBe(base.teacher);
    expect(scaled['baseline@s1']).toBe(base['baseline@s1']);
    const hot = await keys('settings', TEACHER, '', ['distillation.temperature=9']);
    expect(hot.teacher).toBe(base.teacher);
    expect(hot['soft-labels']).toBe(base['soft-labels']);
    expect(hot['student@s1']).not.toBe(base['student@s1']);
    const seeds = await keys('settings', TEACHER, 'evaluation: { seeds: [1, 2, 3] }\n');
    expect(seeds.teacher).toBe(base.teacher);
  });
});
