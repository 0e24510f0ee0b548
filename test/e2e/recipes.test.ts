/**
 * Training recipes through the whole pipeline: a validation split, a cosine schedule, early
 * stopping, weight decay, clipping and label smoothing set from the command line on the micro
 * experiment. The held-out images are counted out of every epoch's training rows, the curves
 * reach metrics.json and report.html, and the resolved config.yaml says what ran.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/api.ts';
import type { Metrics } from '../../src/report/metrics.ts';
import type { TrainHistory } from '../../src/train/train.ts';
import { learningRateAt } from '../../src/train/schedule.ts';
import { metricsSchemaErrors } from '../report/metrics-schema.ts';
import { sink } from '../capture.ts';

const FILE = new URL('./micro.yaml', import.meta.url).pathname;
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kdq-recipes-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('kdq run with a validation split and training recipes (micro MNIST)', () => {
  it('validates every epoch on held-out images it never trains on, and reports the curves', { timeout: 600_000 }, async () => {
    const progress = sink();
    const set = [
      'data.validationSplit=0.25',
      'teacher.training.epochs=4',
      'teacher.training.learningRate=0.01',
      'teacher.training.schedule.type=cosine',
      'teacher.training.schedule.warmupEpochs=1',
      'teacher.training.earlyStopping.patience=2',
      'student.training.epochs=2',
      'student.training.labelSmoothing=0.1',
      'student.training.weightDecay=0.01',
      'student.training.clipNorm=1',
    ];
    const r = await run(FILE, {
      set,
      runsDir: join(dir, 'runs'),
      cacheDir: join(dir, 'cache'),
      log: () => undefined,
      progress: progress.stream,
      backend: 'wasm',
    });
    expect(r.result.ok).toBe(true);
    const m = JSON.parse(await readFile(join(r.runDir!, 'metrics.json'), 'utf8')) as Metrics;
    expect(metricsSchemaErrors(m)).toEqual([]);
    // 64 images, 16 held out: every epoch of every learning stage trains on the other 48.
    expect(m.data.train).toBe(48);
    for (const stage of r.result.stages.filter((s) => s.kind === 'teacher' || s.kind === 'student')) {
      const h = JSON.parse(await readFile(join(stage.outDir!, 'history.json'), 'utf8')) as TrainHistory;
      expect(h.epochs.every((e) => e.samples === 48)).toBe(true);
      expect(h.epochs.every((e) => e.valLoss! > 0 && e.valAccuracy! >= 0 && e.valAccuracy! <= 1)).toBe(true);
    }
    const teacher = m.curves!.teacher!;
    const rates = [0, 1, 2, 3].map((e) =>
      learningRateAt({ learningRate: 0.01, epochs: 4, schedule: { type: 'cosine', warmupEpochs: 1, minLearningRate: 0 } }, e),
    );
    expect(teacher.map((p) => p.learning_rate)).toEqual(rates.slice(0, teacher.length).map((x) => Number(x.toFixed(6))));
    expect(teacher.every((p) => p.val_loss !== undefined && p.val_accuracy !== undefined)).toBe(true);
    expect(m.models.teacher!.best_epoch).toBeGreaterThanOrEqual(1);
    expect(m.curves!.student!).toHaveLength(2);
    expect(m.curves!.student!.every((p) => p.val_loss !== undefined)).toBe(true);
    // The progress lines show validation and the rate.
    expect(progress.text()).toMatch(/teacher@s3 epoch 1\/4: loss \S+ acc \S+ val_loss \S+ val_acc \S+ lr 0\.01 /);
    const html = await readFile(join(r.runDir!, 'report.html'), 'utf8');
    expect(html).toContain('aria-label="Learning rate per epoch"');
    expect(html).toContain('data-name="teacher (val)"');
    const config = await readFile(join(r.runDir!, 'config.yaml'), 'utf8');
    expect(config).toMatch(/schedule:\n\s+type: cosine\n\s+warmupEpochs: 1\n\s+minLearningRate: 0/);
    expect(config).toMatch(/labelSmoothing: 0\.1/);
  });
});
