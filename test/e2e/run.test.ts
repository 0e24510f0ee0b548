/**
 * The whole pipeline through the public API and the CLI entry: a real (tiny) training run, the
 * metrics.json contract, the run folder, and what a second run and a changed temperature reuse.
 */
import { mkdtemp, readFile, readdir, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/api.ts';
import { main } from '../../src/cli.ts';
import type { Metrics } from '../../src/report/metrics.ts';
import { readTflite } from '../../src/tflite/reader.ts';

const FILE = new URL('./tiny.yaml', import.meta.url).pathname;
let runsDir: string;

function sink(): { stream: Writable; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk, _enc, cb) {
      text += String(chunk);
      cb();
    },
  });
  return { stream, text: () => text };
}

beforeAll(async () => {
  runsDir = await mkdtemp(join(tmpdir(), 'kdq-e2e-'));
});
afterAll(async () => {
  await rm(runsDir, { recursive: true, force: true });
});

describe('kdq run (tiny MNIST)', () => {
  let first: Awaited<ReturnType<typeof run>>;
  const quiet = sink();

  it('trains, exports and evaluates every model and writes the run folder', { timeout: 600_000 }, async () => {
    first = await run(FILE, { runsDir, log: () => undefined, progress: quiet.stream });
    expect(first.result.ok).toBe(true);
    const dir = first.runDir!;
    const files = (await readdir(dir)).sort();
    expect(files).toEqual(
      ['config.yaml', 'metrics.json', 'stages.json', 'student-baseline.tflite', 'student-int8.tflite', 'student.tflite', 'teacher.tflite'].sort(),
    );
    expect(await realpath(join(runsDir, 'e2e-tiny', 'latest'))).toBe(await realpath(dir));

    const m = JSON.parse(await readFile(join(dir, 'metrics.json'), 'utf8')) as Metrics;
    expect(m.experiment).toBe('e2e-tiny');
    expect(m.seed).toBe(1);
    expect(m.backend.name).toBe('wasm');
    expect(m.data).toMatchObject({ source: 'mnist', train: 400, test: 200 });
    expect(m.data.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(m.models.teacher?.params).toBe(693_962);
    expect(m.models.student?.params).toBe(173_930);
    for (const role of ['teacher', 'student', 'student_baseline'] as const) {
      const mm = m.models[role]!;
      // Learned something: 10 classes, chance is 0.1.
      expect(mm.accuracy).toBeGreaterThan(0.5);
      // The float .tflite file computes what the tf.js model computes.
      expect(Math.abs(mm.tflite!.accuracy - mm.accuracy!)).toBeLessThanOrEqual(0.01);
    }
    const q = m.models.student_int8!.tflite!;
    expect(q.file).toBe('student-int8.tflite');
    expect(q.bytes / m.models.student!.tflite!.bytes).toBeLessThanOrEqual(0.28);
    expect(q.agreement_with_student).toBeGreaterThanOrEqual(0.97);
    expect(m.kd_gain).toBeCloseTo(m.models.student!.accuracy! - m.models.student_baseline!.accuracy!, 5);

    // The int8 file is full-integer inside, with float edges (QUANTIZE / DEQUANTIZE).
    const tfl = readTflite(new Uint8Array(await readFile(join(dir, 'student-int8.tflite'))));
    const ops = tfl.operators.map((o) => o.op);
    expect(ops[0]).toBe('QUANTIZE');
    expect(ops.at(-1)).toBe('DEQUANTIZE');
  });

  it('reuses every stage on a second run and writes byte-identical metrics', async () => {
    const again = await run(FILE, { runsDir, log: () => undefined, progress: quiet.stream });
    const statuses = Object.fromEntries(again.result.stages.map((s) => [s.id, s.status]));
    for (const [id, status] of Object.entries(statuses)) expect([id, status]).toEqual([id, id === 'report' ? 'ran' : 'cached']);
    expect(await readFile(join(again.runDir!, 'metrics.json'), 'utf8')).toBe(await readFile(join(first.runDir!, 'metrics.json'), 'utf8'));
  });

  it('changing only the temperature reruns only the distilled student and what depends on it', async () => {
    const r = await run(FILE, { runsDir, set: ['distillation.temperature=2'], log: () => undefined, progress: quiet.stream });
    const ran = r.result.stages.filter((s) => s.status === 'ran').map((s) => s.id).sort();
    expect(ran).toEqual(
      ['student@s1', 'export:student@s1', 'export:student_int8@s1', 'evaluate:student@s1', 'evaluate:student_int8@s1', 'report'].sort(),
    );
  });
});

describe('kdq CLI exit codes', () => {
  it('validate exits 0 on the shipped experiments and 2 with FILE:LINE:COL on a bad file', async () => {
    const out = sink();
    const err = sink();
    const ok = await main(['validate', 'experiments/kd-mnist.yaml', 'experiments/kd-mnist-quick.yaml'], { stdout: out.stream, stderr: err.stream });
    expect(ok).toBe(0);
    expect(out.text()).toContain('experiments/kd-mnist.yaml: ok');
    const bad = await main(['run', FILE, '--set', 'distillation.temperature=-1', '--runs-dir', runsDir], { stdout: out.stream, stderr: err.stream });
    expect(bad).toBe(2);
    expect(err.text()).toMatch(/--set distillation\.temperature=-1.*temperature/);
    expect(err.text()).not.toMatch(/\n\s+at /);
  });

  it('a usage error exits 2 with a suggestion and no stack trace', async () => {
    const out = sink();
    const err = sink();
    expect(await main(['rnu', FILE], { stdout: out.stream, stderr: err.stream })).toBe(2);
    expect(err.text()).toContain("did you mean 'run'?");
    expect(err.text()).not.toMatch(/\n\s+at /);
  });
});
