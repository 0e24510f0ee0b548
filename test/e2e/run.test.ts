/**
 * The whole pipeline through the public API and the CLI entry: a real (tiny) training run, the
 * metrics.json contract, the run folder, and what a second run and a changed temperature reuse.
 */
import { mkdtemp, readFile, readdir, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/api.ts';
import { main } from '../../src/cli.ts';
import type { Metrics } from '../../src/report/metrics.ts';
import { readTflite } from '../../src/tflite/reader.ts';
import { externalReferences } from '../../scripts/render-report.mjs';
import { metricsSchemaErrors } from '../report/metrics-schema.ts';
import { sink } from '../capture.ts';
import { simdVariant } from '../../src/backend/simd/index.ts';

const FILE = new URL('./tiny.yaml', import.meta.url).pathname;
/** A report without its run header (the one line that names the run, its date and duration). */
const withoutHeader = (text: string) => text.replace(/^(<p class="run-header">.*<\/p>|- run \d{8}-\d{6}-[0-9a-f]{4} · .*)$/m, '');
let runsDir: string;
/** Run folders of the first run, its cached repeat, and the run at temperature 2. */
const runDirs: { first?: string; again?: string; temperature?: string } = {};

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
      [
        'config.yaml',
        'metrics.json',
        'report.html',
        'report.md',
        'stages.json',
        'timings.json',
        'student-baseline.tflite',
        'student-int8.tflite',
        'student.tflite',
        'teacher.tflite',
      ].sort(),
    );
    expect(await realpath(join(runsDir, 'e2e-tiny', 'latest'))).toBe(await realpath(dir));

    runDirs.first = dir;
    const m = JSON.parse(await readFile(join(dir, 'metrics.json'), 'utf8')) as Metrics;
    expect(metricsSchemaErrors(m)).toEqual([]);
    expect(m.experiment).toBe('e2e-tiny');
    expect(m.seed).toBe(1);
    expect(m.backend.name).toBe('wasm');
    expect(m.backend.kernels).toBe(simdVariant()); // the build the stages ran, as their keys say
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
    expect(q.runtime).toMatch(/^@litertjs\/core /);
    // Latency varies between identical runs, so it lives in timings.json, not metrics.json.
    const timings = JSON.parse(await readFile(join(dir, 'timings.json'), 'utf8'));
    expect(timings.latency_ms_per_image.student_int8).toBeGreaterThan(0);
    expect(JSON.stringify(m)).not.toContain('latency');
    expect(q.bytes / m.models.student!.tflite!.bytes).toBeLessThanOrEqual(0.28);
    expect(q.agreement_with_student).toBeGreaterThanOrEqual(0.97);
    expect(m.kd_gain).toBeCloseTo(m.models.student!.accuracy! - m.models.student_baseline!.accuracy!, 5);

    // The int8 file is full-integer inside, with float edges (QUANTIZE / DEQUANTIZE).
    const tfl = readTflite(new Uint8Array(await readFile(join(dir, 'student-int8.tflite'))));
    const ops = tfl.operators.map((o) => o.op);
    expect(ops[0]).toBe('QUANTIZE');
    expect(ops.at(-1)).toBe('DEQUANTIZE');

    // The int8 file's confusion matrix covers the whole test set, its diagonal is its accuracy.
    const cm = q.confusion_matrix!;
    expect(cm.flat().reduce((a, b) => a + b, 0)).toBe(200);
    expect(cm.reduce((a, row, k) => a + row[k], 0) / 200).toBeCloseTo(q.accuracy, 6);

    // The report: self-contained, with every section, curves from the learning stages' histories.
    const html = await readFile(join(dir, 'report.html'), 'utf8');
    expect(externalReferences(html)).toEqual([]);
    expect([...html.matchAll(/<h2>(.*?)<\/h2>/g)].map((x) => x[1])).toEqual([
      'Models',
      'Per-class accuracy',
      'Confusion matrix of student_int8',
      'Training curves',
    ]);
    expect(html.match(/<g class="series" data-name="(teacher|student|student_baseline)">/g)).toHaveLength(6);
    const md = await readFile(join(dir, 'report.md'), 'utf8');
    expect(md).toContain(`| student_int8 | - | - | ${(q.accuracy * 100).toFixed(2)}% |`);
    // Publishing filled the run header: this run's id in both reports.
    expect(html).toContain(`<p class="run-header"><span><b>run</b> ${basename(dir)}</span>`);
    expect(md).toMatch(new RegExp(`^- run ${basename(dir)} · started \\d{4}-\\d\\d-\\d\\dT[\\d:]+Z · duration `, 'm'));
  });

  it('reuses every stage on a second run and writes byte-identical metrics', async () => {
    const again = await run(FILE, { runsDir, log: () => undefined, progress: quiet.stream });
    const statuses = Object.fromEntries(again.result.stages.map((s) => [s.id, s.status]));
    for (const [id, status] of Object.entries(statuses)) expect([id, status]).toEqual([id, id === 'report' ? 'ran' : 'cached']);
    expect(await readFile(join(again.runDir!, 'metrics.json'), 'utf8')).toBe(await readFile(join(first.runDir!, 'metrics.json'), 'utf8'));
    // The report holds no timings either but its run header, so it is reproducible too.
    for (const f of ['report.md', 'report.html']) {
      const [a, b] = [await readFile(join(again.runDir!, f), 'utf8'), await readFile(join(first.runDir!, f), 'utf8')];
      expect(a).not.toBe(b); // the headers name different runs
      expect(withoutHeader(a)).toBe(withoutHeader(b));
    }
    runDirs.again = again.runDir!;
  });

  it('retraining the student (forced) writes byte-identical metrics.json and report.md', { timeout: 300_000 }, async () => {
    const r = await run(FILE, { runsDir, forceStages: ['student'], log: () => undefined, progress: quiet.stream });
    expect(r.result.stages.find((s) => s.id === 'student@s1')?.status).toBe('ran');
    for (const f of ['metrics.json', 'report.md'])
      expect(withoutHeader(await readFile(join(r.runDir!, f), 'utf8'))).toBe(withoutHeader(await readFile(join(first.runDir!, f), 'utf8')));
  });

  it('changing only the temperature reruns only the distilled student and what depends on it', async () => {
    const r = await run(FILE, { runsDir, set: ['distillation.temperature=2'], log: () => undefined, progress: quiet.stream });
    runDirs.temperature = r.runDir!;
    const ran = r.result.stages
      .filter((s) => s.status === 'ran')
      .map((s) => s.id)
      .sort();
    expect(ran).toEqual(['student@s1', 'export:student@s1', 'export:student_int8@s1', 'evaluate:student@s1', 'evaluate:student_int8@s1', 'report'].sort());
  });
});

describe('kdq run: one teacher for every seed, students on a transfer set', () => {
  it('reuses the seed-1 teacher for seeds 1 and 2 and trains both students on the first 200 images', { timeout: 600_000 }, async () => {
    const logs: string[] = [];
    // Its own name, so runs/e2e-tiny/latest stays the temperature-2 run the diff tests below compare.
    const set = ['name=e2e-tiny-seeds', 'evaluation.seeds=[1,2]', 'evaluation.teacherSeed=1', 'student.training.trainLimit=200'];
    const r = await run(FILE, { runsDir, set, log: (l) => logs.push(l), progress: sink().stream });
    expect(r.result.ok).toBe(true);
    const status = Object.fromEntries(r.result.stages.map((s) => [s.id, s.status]));
    // The teacher of the runs above (seed 1, same key): not retrained, and no second teacher.
    expect(status['teacher@s1']).toBe('cached');
    expect(status['soft-labels@s1']).toBe('cached');
    expect(Object.keys(status).filter((id) => id.includes('teacher@s2') || id.includes('soft-labels@s2'))).toEqual([]);
    for (const id of ['student@s1', 'student@s2', 'baseline@s1', 'baseline@s2']) {
      expect(status[id]).toBe('ran');
      expect(logs).toContain(`${id}: training on the first 200 of 400 training images`);
    }
    const m = JSON.parse(await readFile(join(r.runDir!, 'metrics.json'), 'utf8')) as Required<Metrics>;
    expect(m.seeds.map((s) => s.seed)).toEqual([1, 2]);
    // The one teacher is reported under both seeds, with its float and .tflite accuracy.
    expect(m.seeds[1].models.teacher).toEqual(m.seeds[0].models.teacher);
    expect(m.seeds[1].models.teacher?.tflite?.accuracy).toBeGreaterThan(0.5);
    expect(m.summary['teacher.accuracy']).toMatchObject({ std: 0 });
    expect(m.seeds[0].models.student?.accuracy).not.toBeUndefined();
  });
});

describe('kdq CLI on the runs above', () => {
  const cli = async (...argv: string[]) => {
    const out = sink();
    const err = sink();
    const code = await main(argv, { stdout: out.stream, stderr: err.stream });
    return { code, out: out.text(), err: err.text() };
  };

  /** The status `kdq graph --explain` / `run --dry-run` prints under a stage's line. */
  const statusOf = (out: string, id: string): string => {
    const lines = out.split('\n');
    const i = lines.findIndex((l) => l.startsWith(`${id} `));
    return /^\s+(\S+)/.exec(lines[i + 1] ?? '')?.[1] ?? 'missing';
  };

  it('--dry-run reports every stage cached (but the uncacheable report) and writes no run folder', async () => {
    const before = await readdir(join(runsDir, 'e2e-tiny'));
    const r = await cli('run', FILE, '--dry-run', '--runs-dir', runsDir);
    expect(r.code).toBe(0);
    expect(statusOf(r.out, 'teacher@s1')).toBe('cached');
    expect(statusOf(r.out, 'evaluate:student_int8@s1')).toBe('cached');
    expect(statusOf(r.out, 'report')).toBe('would-run');
    expect(r.out.match(/would-run/g)).toHaveLength(1);
    expect(await readdir(join(runsDir, 'e2e-tiny'))).toEqual(before);
  });

  it('graph --explain says which stages a changed temperature would rerun', async () => {
    const r = await cli('graph', FILE, '--explain', '--set', 'distillation.temperature=3', '--runs-dir', runsDir);
    expect(r.code).toBe(0);
    expect(statusOf(r.out, 'student@s1')).toBe('would-run');
    expect(statusOf(r.out, 'baseline@s1')).toBe('cached');
    expect(statusOf(r.out, 'teacher@s1')).toBe('cached');
  });

  it('inspect describes the int8 file', async () => {
    const r = await cli('inspect', join(runsDir, 'e2e-tiny', 'latest', 'student-int8.tflite'));
    expect(r.code).toBe(0);
    for (const op of ['QUANTIZE', 'CONV_2D', 'MAX_POOL_2D', 'RESHAPE', 'FULLY_CONNECTED', 'SOFTMAX', 'DEQUANTIZE']) expect(r.out).toContain(op);
    // MNIST's files carry no kdq_input entry (they are byte for byte what they were): the default is said.
    expect(r.out).toContain('feed: FLOAT32 [1, 28, 28, 1], NHWC image: rows top to bottom, one grey channel');
    expect(r.out).toContain('  x = pixel / 255, pixel = the byte 0..255');
    expect(r.out).not.toContain('metadata kdq_input');
  });

  it('diff: two runs of the same file diff as identical; a temperature change shows in config, and gates exit 1', async () => {
    const same = await cli('diff', runDirs.first!, runDirs.again!);
    expect(same.code).toBe(0);
    expect(same.out).toContain('metrics: identical');
    expect(same.out).toContain('config: identical');
    // e2e-tiny means runs/e2e-tiny/latest: the temperature-2 run.
    const t = await cli('diff', runDirs.first!, 'e2e-tiny', '--runs-dir', runsDir, '--json', '--fail-on', 'models.teacher.accuracy != 0');
    expect(t.code).toBe(0);
    const j = JSON.parse(t.out);
    expect(j.config).toEqual([{ key: 'distillation.temperature', old: '5', new: '2' }]);
    // The teacher was cached, so none of its metrics moved.
    expect(j.metrics.filter((r: { path: string }) => r.path.startsWith('models.teacher.'))).toEqual([]);
    const gate = await cli('diff', runDirs.first!, 'e2e-tiny', '--runs-dir', runsDir, '--md', '--fail-on', 'abs(models.teacher.accuracy) == 0');
    expect(gate.code).toBe(1);
    expect(gate.out).toContain('| `distillation.temperature` | 5 | 2 |');
    expect(gate.err).toContain("kdq: regression gate crossed: 'abs(models.teacher.accuracy) == 0'");
  });

  it('cache ls lists entries; gc keeps what run folders use and drops the rest', async () => {
    const ls = await cli('cache', 'ls', '--runs-dir', runsDir);
    expect(ls.code).toBe(0);
    const count = Number(/(\d+) entries/.exec(ls.out)![1]);
    expect(count).toBeGreaterThan(10);
    expect(ls.out).not.toContain('unused');
    const keep = await cli('cache', 'gc', '--runs-dir', runsDir);
    expect(keep.out).toContain('removed 0 entries');
    await rm(join(runsDir, 'e2e-tiny'), { recursive: true });
    await rm(join(runsDir, 'e2e-tiny-seeds'), { recursive: true });
    const gc = await cli('cache', 'gc', '--runs-dir', runsDir);
    expect(gc.out).toContain(`removed ${count} entries`);
    expect((await cli('cache', 'ls', '--runs-dir', runsDir)).out).toContain('is empty');
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
