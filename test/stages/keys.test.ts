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
      'teacher@s1': 'b5ecb8f406af5e02f8d7f5a86345088282d94156dde382de4230019003a93bec',
      'soft-labels@s1': '01f5a6bce6e8267540bcc9109790402e309e307a0c65a885dcd44d3f61b7c8c3',
      'student@s1': 'd0e8132ec88b65aa525cf9f054d57f4f6cd39cf207d7940085ddfbf28aa583a9',
      'baseline@s1': '6ac9af269f70bcecec74c90ead977997bde19115a30bf1b76a376c003501373a',
      'export:student_int8@s1': '53f2b4942d580f2ea232b22724f2020a3c29dc769c6f301f554e71d4c99cbbc1',
      'evaluate:student_int8@s1': '2cadaba511bb82deec2ef11be390b90573383293a224093b6d1d34ef6e0c41e3',
      report: 'b8f1da0a519467d2b5c4abb115cbf08c5b0184e8743640357200bd975a7b93c5',
    });
  });
});
