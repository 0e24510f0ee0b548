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
      'teacher@s1': '6ebc9c2ccd8e07cdeacf60672278c19974b300143a1606a7042058ac86e7c644',
      'soft-labels@s1': '1ed9f7eb2b0daca08a1d6d9b1f07e0e7e9f88b824e707211c2aa49fbb22c3aeb',
      'student@s1': 'd87a488254c6189d13e6ebc78e3081935a771bc5c4a41afc6011edd7c2eb6772',
      'baseline@s1': '84850125295f4ed5007df56ea5361d187292282d28179fc73946982c33487e49',
      'export:student_int8@s1': '5bc64632f50af4c1c86e98282eb55f6afadecd0d017e48bb346f35abd568d146',
      'evaluate:student_int8@s1': 'e6a5d752d7e852b1db56b1895e04e75a24e019340ee1d1bf99e0d71a417a709d',
      report: '285abbcd5b2d28b5f91191f2ddb839aeb8d0073f9aab296a3290be033c353f29',
    });
  });
});
