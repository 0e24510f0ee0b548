/**
 * The training-recipe keys of `training` (schedule, weightDecay, labelSmoothing, clipNorm,
 * earlyStopping) as the loader resolves them: only what changes training enters the resolved
 * config (and so the stage keys), with its defaults filled in, and the resolved form loads again.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { loadExperiment } from '../../src/config/load.ts';

const tmp = mkdtempSync(path.join(tmpdir(), 'kdq-recipe-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const NETS = `
teacher:
  layers: [{ type: flatten }, { type: dense, units: 10 }]
student:
  layers: [{ type: flatten }, { type: dense, units: 10 }]
`;

async function load(name: string, text: string) {
  const file = path.join(tmp, `${name}.yaml`);
  writeFileSync(file, `name: ${name}\n${text}`);
  return (await loadExperiment(file)).experiment;
}

describe('training recipes in the resolved config', () => {
  it('are absent when not written, or written as their no-op values', async () => {
    const plain = await load('plain', NETS);
    const noop = await load(
      'noop',
      `${NETS}  training: { schedule: { type: constant }, weightDecay: 0, labelSmoothing: 0, clipNorm: null, earlyStopping: null }\n`,
    );
    expect(Object.keys(plain.student.training).sort()).toEqual(['batchSize', 'epochs', 'learningRate', 'momentum', 'optimizer', 'shuffle']);
    expect(noop.student.training).toEqual(plain.student.training);
  });

  it('fill the defaults of what is written, and only the keys of the schedule type', async () => {
    const e = await load(
      'recipes',
      `data: { validationSplit: 0.1 }\n${NETS}  training:\n    epochs: 10\n    schedule: { type: cosine }\n    weightDecay: 0.05\n    labelSmoothing: 0.1\n    clipNorm: 1\n    earlyStopping: {}\n`,
    );
    expect(e.student.training).toMatchObject({
      schedule: { type: 'cosine', warmupEpochs: 0, minLearningRate: 0 },
      weightDecay: 0.05,
      labelSmoothing: 0.1,
      clipNorm: 1,
      earlyStopping: { monitor: 'val_loss', patience: 3, minDelta: 0 },
    });
    // The teacher keeps plain training: recipes are per network.
    expect(e.teacher.training).not.toHaveProperty('schedule');
    const step = await load('step', `${NETS}  training: { epochs: 9, schedule: { type: step, every: 3 } }\n`);
    expect(step.student.training.schedule).toEqual({ type: 'step', every: 3, factor: 0.1 });
  });

  it('load again from the resolved form (what a run writes to config.yaml) to the same experiment', async () => {
    const e = await load(
      'roundtrip',
      `data: { validationSplit: 0.2 }\n${NETS}  training: { epochs: 6, schedule: { type: cosine, warmupEpochs: 2, minLearningRate: 0.0001 }, earlyStopping: { monitor: val_accuracy, patience: 2, minDelta: 0.001 } }\n`,
    );
    const again = await load('roundtrip', stringify({ ...e, name: undefined }).replace(/^name:.*\n/m, ''));
    expect(again).toEqual(e);
  });

  it('can be set from the command line', async () => {
    const file = path.join(tmp, 'set.yaml');
    writeFileSync(file, `name: set\ndata: { validationSplit: 0.1 }\n${NETS}`);
    const { experiment: e } = await loadExperiment(file, {
      set: [
        'student.training.epochs=8',
        'student.training.schedule.type=cosine',
        'student.training.schedule.warmupEpochs=1',
        'student.training.earlyStopping.patience=2',
      ],
    });
    expect(e.student.training.schedule).toEqual({ type: 'cosine', warmupEpochs: 1, minLearningRate: 0 });
    expect(e.student.training.earlyStopping).toEqual({ monitor: 'val_loss', patience: 2, minDelta: 0 });
  });
});
