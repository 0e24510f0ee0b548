/**
 * Turns a resolved experiment into the stage DAG. Each stage gets only its slice of the config,
 * because the slice is what is hashed: a key that no longer varies with unrelated settings is what
 * lets a temperature change keep the teacher and the baseline cached.
 */
import { isFineTuned, isImportedTeacher } from '../config/teacher-model.ts';
import type { Experiment, ImportedTeacherConfig } from '../config/types.ts';
import { KdqError } from '../errors.ts';
import type { ModelRole } from '../names.ts';
import { buildGraph, type StageGraph } from '../pipeline/graph.ts';
import type { EvaluateStage, ExportStage, ImportedTeacherStageConfig, KdStage, ReferenceRole } from './types.ts';

export type { KdStage } from './types.ts';

const at = (base: string, seed: number) => `${base}@s${seed}`;

/**
 * The stages of one experiment:
 * - `data` once, or `data@s<seed>` per seed when a validation split makes the data depend on the seed;
 * - per seed: `teacher`, `soft-labels`, `student` (distilled), `baseline` (if `distillation.baseline`),
 *   `export:<role>` per model role (quantized student unless `quantization.mode: none`),
 *   `evaluate:<role>`;
 * - with `evaluation.teacherSeed: t`, the teacher, its soft labels, export and evaluate only once,
 *   as `teacher@s<t>` and so on, and every seed's student learns from that teacher;
 * - one `report` depending on every evaluate and on the model and data stages it reports on.
 *
 * A teacher trained elsewhere (`teacher.model`) is an `imported-teacher` stage instead. Unless it
 * is fine-tuned it has no seed: one stage `teacher` (and one `soft-labels`, per seed only when the
 * training images depend on the seed) serves every seed. Its checks against the data must pass
 * before anything trains, so the baselines run after it (an order-only prerequisite: their keys do
 * not depend on the teacher). It is exported to .tflite only when kdq can (a TF.js teacher).
 */
export function planExperiment(exp: Experiment): StageGraph<KdStage> {
  const stages: KdStage[] = [];
  const seeds = exp.evaluation.seeds;
  const dataPerSeed = exp.data.validationSplit > 0;
  // Learning stages validate every epoch when images are held out, which their outputs record.
  const validation = exp.data.validationSplit > 0 ? { validation: true as const } : {};
  // A test set drawn from the training file (testSplit) is the same for every seed: the experiment seed draws it.
  const dataConfig = { ...exp.data, ...(exp.data.testSplit !== undefined ? { testSplitSeed: exp.seed } : {}) };
  if (!dataPerSeed) stages.push({ id: 'data', kind: 'data', config: dataConfig, inputs: {}, deps: [] });

  const { baseline: withBaseline, ...distillation } = exp.distillation;
  const quantMode = exp.quantization.mode;
  const quantRole: ModelRole | null = quantMode === 'none' ? null : `student_${quantMode}`;
  const baseRoles: ModelRole[] = ['teacher', 'student', ...(withBaseline ? (['student_baseline'] as const) : []), ...(quantRole ? [quantRole] : [])];
  const evaluates: string[] = [];
  const exports: string[] = [];
  /** What metrics.json is made of: every evaluate, plus the model and data stages it reports on. */
  const reported: string[] = [];

  const imported = isImportedTeacher(exp.teacher) ? exp.teacher : null;
  // An imported teacher used as it is has no seed: one for every seed and sweep point.
  const seedless = imported !== null && !isFineTuned(imported);
  const exportTeacher = imported === null || imported.format === 'tfjs-layers';
  const roles = baseRoles.filter((r) => r !== 'teacher' || exportTeacher);

  for (const seed of seeds) {
    const data = dataPerSeed ? at('data', seed) : 'data';
    if (dataPerSeed) stages.push({ id: data, kind: 'data', config: { ...dataConfig, seed }, inputs: {}, deps: [], seed });

    const teacherSeed = exp.evaluation.teacherSeed ?? seed;
    // Planned in the first seed only when one teacher serves them all (evaluation.teacherSeed, or an imported one).
    const planTeacher = (exp.evaluation.teacherSeed === null && !seedless) || seed === seeds[0];
    const teacher = seedless ? 'teacher' : at('teacher', teacherSeed);
    // Without a validation split the training images are the same for every seed, and so are the soft labels.
    const softLabels = seedless ? (dataPerSeed ? at('soft-labels', seed) : 'soft-labels') : at('soft-labels', teacherSeed);
    const planSoftLabels = planTeacher || (seedless && dataPerSeed);
    const student = at('student', seed);
    const baseline = at('baseline', seed);
    if (planTeacher && imported) {
      stages.push({
        id: teacher,
        kind: 'imported-teacher',
        config: importedTeacherConfig(imported, teacherSeed),
        inputs: { data },
        deps: [data],
        ...(seedless ? {} : { seed: teacherSeed }),
        role: 'teacher',
      });
    } else if (planTeacher && !isImportedTeacher(exp.teacher)) {
      stages.push({
        id: teacher,
        kind: 'teacher',
        config: { layers: exp.teacher.layers, training: exp.teacher.training, seed: teacherSeed, ...validation },
        inputs: { data },
        deps: [data],
        seed: teacherSeed,
        role: 'teacher',
      });
    }
    if (planSoftLabels) {
      // The teacher's logits on the training set depend only on the teacher and the data.
      const softSeed = seedless ? (dataPerSeed ? { seed } : {}) : { seed: teacherSeed };
      stages.push({ id: softLabels, kind: 'soft-labels', config: {}, inputs: { teacher, data }, deps: [teacher, data], ...softSeed });
    }
    stages.push({
      id: student,
      kind: 'student',
      config: { layers: exp.student.layers, training: exp.student.training, distillation, seed, ...validation },
      inputs: { softLabels, data },
      deps: [softLabels, data],
      seed,
      role: 'student',
    });
    if (withBaseline) {
      // No distillation settings here: the baseline must not retrain when only the KD loss changes.
      stages.push({
        id: baseline,
        kind: 'baseline',
        config: { layers: exp.student.layers, training: exp.student.training, seed, ...validation },
        inputs: { data },
        deps: [data],
        seed,
        role: 'student_baseline',
        // An imported teacher's checks stop a bad run before the baseline trains, without entering its key.
        ...(imported ? { after: [teacher] } : {}),
      });
    }

    const modelStage: Partial<Record<ModelRole, string>> = { teacher, student, student_baseline: baseline };
    reported.push(...(seed === seeds[0] || dataPerSeed ? [data] : []), ...(planTeacher ? [teacher] : []), student, ...(withBaseline ? [baseline] : []));
    /** The seed a role's export and evaluate stages are named after: the teacher's own seed for the teacher. */
    const seedOf = (role: ModelRole) => (role === 'teacher' ? teacherSeed : seed);
    /** A stage id of a role: a seedless teacher's stages have no seed in their ids either. */
    const idOf = (base: string, role: ModelRole) => (role === 'teacher' && seedless ? base : at(base, seedOf(role)));
    const seedField = (role: ModelRole) => (role === 'teacher' && seedless ? {} : { seed: seedOf(role) });
    const floatExport = (role: ModelRole): ExportStage => ({
      id: idOf(`export:${role}`, role),
      kind: 'export',
      config: { mode: 'none' },
      // The data (for the input shape) is upstream of the model, so its key is in the model's.
      inputs: { model: modelStage[role] as string, data },
      deps: [modelStage[role] as string],
      ...seedField(role),
      role,
    });
    if (planTeacher && exportTeacher) stages.push(floatExport('teacher'));
    stages.push(floatExport('student'));
    if (withBaseline) stages.push(floatExport('student_baseline'));
    if (quantRole) {
      stages.push({
        id: at(`export:${quantRole}`, seed),
        kind: 'export',
        config: { ...exp.quantization, mode: quantMode },
        // The training images calibrate the activation ranges.
        inputs: { model: student, data },
        deps: [student, data],
        seed,
        role: quantRole,
      });
    }

    // Agreement compares a student with its teacher, and a quantized student with its float self too.
    const compareWith: Partial<Record<ModelRole, ReferenceRole[]>> = {
      teacher: [],
      student: ['teacher'],
      student_baseline: ['teacher'],
      ...(quantRole ? { [quantRole]: ['teacher', 'student'] } : {}),
    };
    for (const role of roles) {
      if (role === 'teacher' && !planTeacher) continue;
      const id = idOf(`evaluate:${role}`, role);
      const refs = compareWith[role] ?? [];
      const exported = idOf(`export:${role}`, role);
      exports.push(exported);
      const evaluate: EvaluateStage = {
        id,
        kind: 'evaluate',
        config: { metrics: exp.evaluation.metrics, compareWith: refs },
        inputs: { export: exported, data, ...Object.fromEntries(refs.map((r) => [r, modelStage[r] as string])) },
        deps: [exported, ...refs.map((r) => modelStage[r] as string), data],
        ...seedField(role),
        role,
      };
      stages.push(evaluate);
      evaluates.push(id);
    }
  }

  stages.push({
    id: 'report',
    kind: 'report',
    config: {
      name: exp.name,
      description: exp.description,
      seeds,
      metrics: exp.evaluation.metrics,
      roles,
      teacherSeed: exp.evaluation.teacherSeed,
    },
    // The exports are read for the files a run publishes; their keys are in the evaluates' keys.
    inputs: Object.fromEntries([...reported, ...evaluates, ...exports].map((id) => [id, id])),
    deps: [...reported, ...evaluates],
  });
  return buildGraph(stages, { publish: 'report' });
}

/** The imported teacher's stage config: its file and settings, and `training` and `seed` only when it is fine-tuned. */
function importedTeacherConfig(t: ImportedTeacherConfig, seed: number): ImportedTeacherStageConfig {
  if (t.format === undefined || t.inputLayout === undefined) {
    throw new KdqError('E_INTERNAL', `teacher.model '${t.model}' was planned before the loader read its format; plan experiments that loadExperiment returned`);
  }
  const settings = { model: t.model, format: t.format, inputLayout: t.inputLayout, output: t.output, scale: t.scale, mean: t.mean, std: t.std };
  return isFineTuned(t) ? { ...settings, training: t.training, seed } : settings;
}
