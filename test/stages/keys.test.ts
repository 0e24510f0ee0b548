/**
 * Golden stage keys: a key of every stage kind of the shipped kd-mnist-quick experiment, on a fixed
 * backend identity. A change here re-runs every user's cached stages, so it must be deliberate: a
 * stage's version bump, or a new key part, said so in the commit.
 */
import { Writable } from 'node:stream';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadExperiment } from '../../src/config/load.ts';
import { Cache } from '../../src/pipeline/cache.ts';
import { runGraph } from '../../src/pipeline/run.ts';
import { createStageDefinitions, planExperiment, StageServices } from '../../src/stages/index.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kdq-keys-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('stage keys of experiments/kd-mnist-quick.yaml (wasm, tf.js 4.22.0, fma kernels)', () => {
  it('are pinned, one per stage kind', async () => {
    const loaded = await loadExperiment(join(ROOT, 'experiments/kd-mnist-quick.yaml'));
    const backend = { name: 'wasm', tfjs: '4.22.0', kernels: 'fma' } as const;
    const services = new StageServices({ baseDir: loaded.dir, dataCacheDir: join(dir, 'data'), progress: new Writable(), backend });
    const result = await runGraph(planExperiment(loaded.experiment), createStageDefinitions(services), {
      cache: new Cache(join(dir, 'cache')),
      env: { backend: 'wasm', tfjs: '4.22.0', kernels: 'fma' },
      dryRun: true,
    });
    const keys = Object.fromEntries(result.stages.map((s) => [s.id, s.key]));
    expect(keys).toMatchObject({
      data: '3e785ad168e3922719fe38acc8fc2a3b8ab54ffade7333af42651ca266a8f02f',
      'teacher@s1': '6fd2d3c0df96d3f7ac96529c5e80c767ccfa050af97475423da22cd356ff0a12',
      'soft-labels@s1': '07fd6bcfbd04e3c72f9099b8fd2b8dfe207c5babcf95a773fa5fae420a22f038',
      'student@s1': '3f306f287443d4be17b4912a54b7f648284c3ffa4e2cc8c4dc5c58380a49a07e',
      'baseline@s1': '9d49cfb3a5d21b7c5a97ce4ad5197bcb3644067e45b3c42084a5d434e49e86b1',
      'export:student_int8@s1': '4fb093eba77a724acc00d4099b481b363a8b97271eb5ad2dd3440b6f13d7caf6',
      'evaluate:student_int8@s1': 'df40a2eb19bc61eed2e3e3b65d3487e5e4af1068e3e43ecd20f797a2f92f1fbf',
      report: '93a0b86e0ebad7c838843d3b25b438969335ac14d136f7af54c13b9ef9eb7e3b',
    });
  });
});
