/** Every stage kind's implementation, bound to one process's services. */
import type { StageKind } from '../names.ts';
import type { StageServices } from './context.ts';
import { dataStage } from './data.ts';
import { evaluateStage } from './evaluate.ts';
import { exportStage } from './export.ts';
import { importedTeacherStage } from './imported-teacher.ts';
import { reportStage } from './report.ts';
import { baselineStage, softLabelsStage, studentStage, teacherStage } from './train.ts';
import type { KdStageDefinition } from './types.ts';

export { StageServices, DatasetStore, type ServicesEnv } from './context.ts';
export { planExperiment } from './plan.ts';
export type { KdStage } from './types.ts';

/** Compiler-checked against STAGE_KINDS: a kind without an implementation does not build. */
export function createStageDefinitions(services: StageServices): { [K in StageKind]: KdStageDefinition<K> } {
  return {
    data: dataStage(services),
    teacher: teacherStage(services),
    'imported-teacher': importedTeacherStage(services),
    'soft-labels': softLabelsStage(services),
    student: studentStage(services),
    baseline: baselineStage(services),
    export: exportStage(services),
    evaluate: evaluateStage(services),
    report: reportStage(services),
  };
}
