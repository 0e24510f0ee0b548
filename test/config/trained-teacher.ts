/** The teacher of an experiment that trains it from layers (tests of files without `teacher.model`). */
import type { ModelConfig, TeacherConfig } from '../../src/config/types.ts';

export function trainedTeacher(t: TeacherConfig): ModelConfig {
  if ('model' in t) throw new Error(`expected a teacher with layers, got teacher.model ${t.model}`);
  return t;
}
