/**
 * Checks of the training recipes (`schedule`, `weightDecay`, `earlyStopping`) that the schema
 * cannot express: values that only make sense against `epochs`, `learningRate` or the data split,
 * and schedule keys written for another schedule type.
 */
import type { Experiment } from './types.ts';
import type { PathIssue } from './messages.ts';
import { isPlainObject } from './merge.ts';

/** Which schedule type each schedule key belongs to; a key given with another type is a mistake. */
const SCHEDULE_KEYS: Record<string, string> = { every: 'step', factor: 'step', warmupEpochs: 'cosine', minLearningRate: 'cosine' };

export function checkRecipes(exp: Experiment, raw: unknown): PathIssue[] {
  const issues: PathIssue[] = [];
  const add = (path: (string | number)[], message: string, prefer: 'key' | 'value' = 'value'): void => {
    issues.push({ path, message, prefer });
  };
  for (const role of ['teacher', 'student'] as const) {
    const t = exp[role].training;
    const at = (...keys: string[]) => [role, 'training', ...keys];
    const rawTraining = isPlainObject(raw) && isPlainObject(raw[role]) && isPlainObject(raw[role].training) ? raw[role].training : {};
    const rawSchedule = isPlainObject(rawTraining.schedule) ? rawTraining.schedule : {};
    const type = typeof rawSchedule.type === 'string' ? rawSchedule.type : 'constant';
    for (const [key, owner] of Object.entries(SCHEDULE_KEYS)) {
      if (rawSchedule[key] !== undefined && type !== owner) {
        add(at('schedule', key), `'${key}' is used only with schedule type ${owner} (type is ${type}); remove it or set type: ${owner}`, 'key');
      }
    }
    const s = t.schedule;
    if (s?.type === 'cosine') {
      if (s.warmupEpochs >= t.epochs) {
        add(
          at('schedule', 'warmupEpochs'),
          `warmupEpochs ${s.warmupEpochs} is not below epochs ${t.epochs}: the learning rate would never decay; use at most ${t.epochs - 1} warm-up epochs or raise epochs`,
        );
      }
      if (s.minLearningRate >= t.learningRate) {
        add(
          at('schedule', 'minLearningRate'),
          `minLearningRate ${s.minLearningRate} is not below learningRate ${t.learningRate}: the cosine would not decay; lower it (0 decays to zero)`,
        );
      }
    }
    if (s?.type === 'step' && s.every === undefined) {
      add(at('schedule', 'type'), `schedule type step needs 'every', the epochs between two multiplications by factor; add e.g. every: 10`);
    } else if (s?.type === 'step' && s.every >= t.epochs) {
      add(
        at('schedule', 'every'),
        `every ${s.every} is not below epochs ${t.epochs}: the learning rate would never change; use a smaller every or raise epochs`,
      );
    }
    if (t.weightDecay !== undefined && t.weightDecay * t.learningRate >= 1) {
      add(
        at('weightDecay'),
        `weightDecay ${t.weightDecay} times learningRate ${t.learningRate} is ${t.weightDecay * t.learningRate}, not below 1: each step would multiply the weights by ${1 - t.weightDecay * t.learningRate}; use e.g. weightDecay: 0.01`,
      );
    }
    if (t.earlyStopping !== undefined && exp.data.validationSplit === 0) {
      add(
        at('earlyStopping'),
        `earlyStopping reads the validation loss or accuracy, but data.validationSplit is 0 (no images are held out); set data.validationSplit: 0.1 or remove earlyStopping`,
        'key',
      );
    }
  }
  return issues;
}
