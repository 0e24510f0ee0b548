import { describe, expect, it } from 'vitest';
import { buildGraph, selectStages, topologicalOrder, withDependents } from '../../src/pipeline/graph.ts';
import { planExperiment } from '../../src/stages/plan.ts';
import { experiment } from '../pipeline/fixtures/experiment.ts';
import { trainedTeacher } from '../config/trained-teacher.ts';

describe('planExperiment', () => {
  it('plans data, the three models, exports, evaluates and one report, with the deps of the design', () => {
    const g = planExperiment(experiment());
    expect(g.roots).toEqual(['data']);
    expect(g.dependencies).toEqual({
      data: [],
      'teacher@s1': ['data'],
      'soft-labels@s1': ['teacher@s1', 'data'],
      'student@s1': ['soft-labels@s1', 'data'],
      'baseline@s1': ['data'],
      'export:teacher@s1': ['teacher@s1'],
      'export:student@s1': ['student@s1'],
      'export:student_baseline@s1': ['baseline@s1'],
      'export:student_int8@s1': ['student@s1', 'data'],
      'evaluate:teacher@s1': ['export:teacher@s1', 'data'],
      'evaluate:student@s1': ['export:student@s1', 'teacher@s1', 'data'],
      'evaluate:student_baseline@s1': ['export:student_baseline@s1', 'teacher@s1', 'data'],
      'evaluate:student_int8@s1': ['export:student_int8@s1', 'teacher@s1', 'student@s1', 'data'],
      report: [
        'data',
        'teacher@s1',
        'student@s1',
        'baseline@s1',
        'evaluate:teacher@s1',
        'evaluate:student@s1',
        'evaluate:student_baseline@s1',
        'evaluate:student_int8@s1',
      ],
    });
    for (const s of Object.values(g.stages)) expect(g.dependencies[s.id]).toEqual(s.deps);
    expect(g.stages['export:student_int8@s1'].role).toBe('student_int8');
  });

  it('gives each stage only its slice of the config', () => {
    const exp = experiment();
    const g = planExperiment(exp);
    const { baseline: _b, ...kd } = exp.distillation;
    expect(g.stages['teacher@s1'].config).toEqual({ layers: trainedTeacher(exp.teacher).layers, training: exp.teacher.training, seed: 1 });
    expect(g.stages['student@s1'].config).toEqual({ layers: exp.student.layers, training: exp.student.training, distillation: kd, seed: 1 });
    expect(g.stages['baseline@s1'].config).toEqual({ layers: exp.student.layers, training: exp.student.training, seed: 1 });
    expect(g.stages['soft-labels@s1'].config).toEqual({});
    expect(g.stages['export:student_int8@s1'].config).toEqual(exp.quantization);
    expect(g.stages['export:teacher@s1'].config).toEqual({ mode: 'none' });
    expect(g.stages.data.config).toEqual(exp.data);
    expect(g.stages.report.config).toMatchObject({ name: 'kd-mnist', seeds: [1], roles: ['teacher', 'student', 'student_baseline', 'student_int8'] });
  });

  it('repeats the learning stages per seed and splits data per seed only with a validation split', () => {
    const exp = experiment();
    exp.evaluation.seeds = [1, 2];
    const shared = planExperiment(exp);
    expect(shared.roots).toEqual(['data']);
    expect(shared.stages['teacher@s2'].deps).toEqual(['data']);
    // 8 evaluates, the shared data stage, and teacher, student and baseline of both seeds.
    expect(shared.stages.report.deps).toHaveLength(15);

    exp.data.validationSplit = 0.1;
    const split = planExperiment(exp);
    expect(split.roots).toEqual(['data@s1', 'data@s2']);
    expect(split.stages['data@s2'].config).toEqual({ ...exp.data, seed: 2 });
    expect(split.stages['student@s2'].deps).toEqual(['soft-labels@s2', 'data@s2']);
    // The learning stages validate on the held-out images, which their key says; without a split it is absent.
    for (const id of ['teacher@s1', 'student@s2', 'baseline@s1']) expect(split.stages[id].config).toMatchObject({ validation: true });
    for (const id of ['teacher@s1', 'student@s2', 'baseline@s1']) expect(shared.stages[id].config).not.toHaveProperty('validation');
  });

  it('with evaluation.teacherSeed plans one teacher, its soft labels, export and evaluate, and students per seed', () => {
    const exp = experiment();
    exp.evaluation.seeds = [1, 2, 3];
    exp.evaluation.teacherSeed = 7;
    const g = planExperiment(exp);
    const ids = Object.keys(g.stages);
    expect(ids.filter((id) => /teacher|soft-labels/.test(id) && !id.includes('student'))).toEqual([
      'teacher@s7',
      'soft-labels@s7',
      'export:teacher@s7',
      'evaluate:teacher@s7',
    ]);
    expect(g.stages['teacher@s7'].config).toEqual({ layers: trainedTeacher(exp.teacher).layers, training: exp.teacher.training, seed: 7 });
    for (const seed of [1, 2, 3]) {
      expect(g.stages[`student@s${seed}`].deps).toEqual(['soft-labels@s7', 'data']);
      expect((g.stages[`student@s${seed}`].config as { seed: number }).seed).toBe(seed);
      expect((g.stages[`baseline@s${seed}`].config as { seed: number }).seed).toBe(seed);
      expect(g.stages[`evaluate:student@s${seed}`].deps).toEqual([`export:student@s${seed}`, 'teacher@s7', 'data']);
    }
    // The teacher once, then students and baselines of 3 seeds, 1 + 4 x 3 evaluates, data.
    expect(g.stages.report.deps).toEqual(expect.arrayContaining(['teacher@s7', 'evaluate:teacher@s7', 'student@s3', 'baseline@s3']));
    expect(g.stages.report.deps).toHaveLength(1 + 1 + 6 + 1 + 9);
    expect(g.stages.report.config).toMatchObject({ seeds: [1, 2, 3], teacherSeed: 7 });

    // A teacher seed among the seeds is exactly that seed's teacher without the option.
    exp.evaluation.teacherSeed = 2;
    const shared = planExperiment(exp);
    const perSeed = planExperiment({ ...exp, evaluation: { ...exp.evaluation, teacherSeed: null } });
    expect(shared.stages['teacher@s2']).toEqual(perSeed.stages['teacher@s2']);
    expect(shared.stages['soft-labels@s2']).toEqual(perSeed.stages['soft-labels@s2']);
    expect(shared.stages['teacher@s1']).toBeUndefined();
    expect(perSeed.stages['teacher@s1'].config).toMatchObject({ seed: 1 });
  });

  it('gives the student and the baseline the same training.trainLimit, the teacher its own', () => {
    const exp = experiment();
    exp.student.training = { ...exp.student.training, trainLimit: 1000 };
    const g = planExperiment(exp);
    expect(g.stages['student@s1'].config).toMatchObject({ training: { trainLimit: 1000 } });
    expect(g.stages['baseline@s1'].config).toMatchObject({ training: { trainLimit: 1000 } });
    expect((g.stages['teacher@s1'].config as { training: object }).training).not.toHaveProperty('trainLimit');
  });

  it('leaves out the baseline without distillation.baseline and the quantized export with mode none', () => {
    const exp = experiment();
    exp.distillation.baseline = false;
    exp.quantization.mode = 'none';
    const ids = Object.keys(planExperiment(exp).stages);
    expect(ids).toEqual([
      'data',
      'teacher@s1',
      'soft-labels@s1',
      'student@s1',
      'export:teacher@s1',
      'export:student@s1',
      'evaluate:teacher@s1',
      'evaluate:student@s1',
      'report',
    ]);
    exp.quantization.mode = 'float16';
    expect(Object.keys(planExperiment(exp).stages)).toContain('evaluate:student_float16@s1');
  });
});

describe('graph helpers', () => {
  const g = planExperiment(experiment());

  it('orders every stage after its deps, keeping plan order among ready stages', () => {
    const order = topologicalOrder(g);
    expect(order[0]).toBe('data');
    expect(order.at(-1)).toBe('report');
    for (const [id, deps] of Object.entries(g.dependencies)) for (const d of deps) expect(order.indexOf(d)).toBeLessThan(order.indexOf(id));
  });

  it('finds dependents transitively and selects by id or kind', () => {
    expect([...withDependents(g, ['baseline@s1'])].sort()).toEqual(
      ['baseline@s1', 'evaluate:student_baseline@s1', 'export:student_baseline@s1', 'report'].sort(),
    );
    expect([...selectStages(g, ['export'])].sort()).toEqual(
      Object.keys(g.stages)
        .filter((id) => id.startsWith('export:'))
        .sort(),
    );
    expect(() => selectStages(g, ['techer'])).toThrow(/"techer" matches no stage/);
  });

  it('rejects duplicate ids, unknown deps and cycles', () => {
    expect(() =>
      buildGraph([
        { id: 'a', kind: 'data', config: {}, inputs: {}, deps: [] },
        { id: 'a', kind: 'data', config: {}, inputs: {}, deps: [] },
      ]),
    ).toThrow(/planned twice/);
    expect(() => buildGraph([{ id: 'a', kind: 'data', config: {}, inputs: { b: 'b' }, deps: ['b'] }])).toThrow(/depends on "b"/);
    expect(() =>
      buildGraph([
        { id: 'r', kind: 'data', config: {}, inputs: {}, deps: [] },
        { id: 'a', kind: 'teacher', config: {}, inputs: { r: 'r', b: 'b' }, deps: ['r', 'b'] },
        { id: 'b', kind: 'teacher', config: {}, inputs: { a: 'a' }, deps: ['a'] },
      ]),
    ).toThrow(/cycle among: a, b/);
  });
});
