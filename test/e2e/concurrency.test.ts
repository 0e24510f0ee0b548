/**
 * Three `kdq run` processes at once, of three experiments that share one teacher (they differ in
 * their distillation settings only), on one cache: the teacher is trained by exactly one of them,
 * the other two wait for its lock and take its entry, all three succeed, and their teacher
 * metrics are identical.
 */
import { execa } from 'execa';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunResult } from '../../src/pipeline/run.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const MICRO = join(ROOT, 'test/e2e/micro.yaml');
const KDQ = join(ROOT, 'bin/kdq.mjs');
let base: string;

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'kdq-concurrent-'));
});
afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

describe('concurrent runs sharing a teacher', () => {
  it('train the teacher once; all three succeed with identical teacher metrics', { timeout: 600_000 }, async () => {
    const variants = [
      { name: 'micro-t2', distillation: 'temperature: 2' },
      { name: 'micro-t4', distillation: 'temperature: 4' },
      { name: 'micro-mse', distillation: 'loss: mse\n  temperatureSquared: false' },
    ];
    const files: string[] = [];
    for (const v of variants) {
      const file = join(base, `${v.name}.yaml`);
      await writeFile(file, `extends: ${MICRO}\nname: ${v.name}\ndistillation:\n  ${v.distillation}\n`);
      files.push(file);
    }
    const runsDir = join(base, 'runs');
    const runs = await Promise.all(files.map((f) => execa('node', [KDQ, 'run', f, '--runs-dir', runsDir], { cwd: ROOT, reject: false })));
    for (const r of runs) expect(r.exitCode, r.stderr).toBe(0);

    const stagesOf = async (name: string) => JSON.parse(await readFile(join(runsDir, name, 'latest', 'stages.json'), 'utf8')) as RunResult;
    const results = await Promise.all(variants.map((v) => stagesOf(v.name)));
    const teacher = results.map((r) => r.stages.find((s) => s.id === 'teacher@s3')!);
    // One key, one run; the others are cache hits (taken after waiting for the lock, or found later).
    const why = JSON.stringify(teacher.map((t) => [t.key.slice(0, 12), t.status, t.reason]));
    expect(new Set(teacher.map((t) => t.key)).size, why).toBe(1);
    expect(teacher.map((t) => t.status).sort(), why).toEqual(['cached', 'cached', 'ran']);
    expect(runs.map((r) => (r.stderr.match(/^teacher@s3: ran in/gm) ?? []).length).reduce((a, b) => a + b)).toBe(1);
    // The students differ (different distillation), so each run trained its own.
    const students = results.map((r) => r.stages.find((s) => s.id === 'student@s3')!);
    expect(new Set(students.map((s) => s.key)).size).toBe(3);
    expect(students.every((s) => s.status === 'ran')).toBe(true);

    const metrics = await Promise.all(variants.map(async (v) => JSON.parse(await readFile(join(runsDir, v.name, 'latest', 'metrics.json'), 'utf8'))));
    expect(metrics[1].models.teacher).toEqual(metrics[0].models.teacher);
    expect(metrics[2].models.teacher).toEqual(metrics[0].models.teacher);
    expect(metrics.map((m) => m.experiment)).toEqual(variants.map((v) => v.name));
  });
});
