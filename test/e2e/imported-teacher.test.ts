/**
 * `kdq run` with a teacher trained elsewhere, through the CLI entry (`main`): each of the three
 * formats teaches a full run (the PyTorch-trained ONNX teacher's accuracy as kdq measures it
 * equals PyTorch's), and every bad teacher the checks catch ends in exit 2 with a message naming
 * the file, before anything trains: no stage but `data` cached, no run folder.
 */
import { copyFile, mkdtemp, readdir, readFile, rm, truncate } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli.ts';
import { Cache } from '../../src/pipeline/cache.ts';
import type { Metrics } from '../../src/report/metrics.ts';
import { metricsSchemaErrors } from '../report/metrics-schema.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const TEACHERS = join(ROOT, 'test/fixtures/teachers');
const SHIPPED = join(ROOT, 'experiments/teachers');
let base: string;
beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'kdq-imported-e2e-'));
});
afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

async function kdq(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const sink = (append: (s: string) => void) =>
    new Writable({
      write(chunk, _enc, cb) {
        append(String(chunk));
        cb();
      },
    });
  const code = await main(argv, { stdout: sink((s) => (out += s)), stderr: sink((s) => (err += s)) });
  return { code, out, err };
}

/** A tiny experiment (64 training images, 1 epoch) whose teacher is `teacher` (YAML mapping lines). */
function experiment(name: string, teacher: string, data = '{ source: mnist, trainLimit: 64, testLimit: 64 }'): string {
  return [
    `name: ${name}`,
    'seed: 3',
    `data: ${data}`,
    'teacher:',
    teacher,
    'student:',
    '  layers:',
    '    - { type: maxPooling2d, poolSize: 4 }',
    '    - { type: flatten }',
    '    - { type: dense, units: 10 }',
    '  training: { epochs: 1, batchSize: 16 }',
    'quantization: { mode: int8, calibrationSamples: 16 }',
    'evaluation: { seeds: [1, 2] }',
    '',
  ].join('\n');
}

async function runExperiment(name: string, text: string): Promise<{ code: number; out: string; err: string; runsDir: string; file: string }> {
  const runsDir = join(base, name, 'runs');
  const file = join(base, name, `${name}.yaml`);
  const { mkdir, writeFile } = await import('node:fs/promises');
  await mkdir(join(base, name), { recursive: true });
  await writeFile(file, text);
  return { ...(await kdq('run', file, '--runs-dir', runsDir)), runsDir, file };
}

async function metricsOf(runsDir: string, name: string): Promise<Metrics> {
  return JSON.parse(await readFile(join(runsDir, name, 'latest', 'metrics.json'), 'utf8')) as Metrics;
}

/** Stage ids of the committed cache entries. */
async function cachedStages(runsDir: string): Promise<string[]> {
  const entries = await new Cache(join(runsDir, '.cache')).list();
  return entries.map((e) => (e.meta as { stage: string }).stage).sort();
}

describe('a teacher trained elsewhere teaches a full kdq run', () => {
  it("ONNX from PyTorch: its accuracy in kdq equals PyTorch's to 0.1 points; one teacher for both seeds; a rerun is all cached", async () => {
    const recorded = JSON.parse(await readFile(join(SHIPPED, 'mnist-cnn-pytorch.json'), 'utf8')) as { pytorch_test: { accuracy: number; images: number } };
    // The whole test set, as PyTorch measured it.
    const text = experiment('onnx', `  model: ${join(SHIPPED, 'mnist-cnn-pytorch.onnx')}\n  mean: 0.1307\n  std: 0.3081`, '{ source: mnist, trainLimit: 64 }');
    const r = await runExperiment('onnx', text);
    expect(r.code, r.err).toBe(0);
    const m = await metricsOf(r.runsDir, 'onnx');
    expect(metricsSchemaErrors(m)).toEqual([]);
    expect(m.data.test).toBe(recorded.pytorch_test.images);
    const teacher = m.models.teacher!;
    expect(Math.abs(teacher.accuracy! - recorded.pytorch_test.accuracy)).toBeLessThanOrEqual(0.001);
    expect(teacher.imported).toMatchObject({
      format: 'onnx',
      file: join(SHIPPED, 'mnist-cnn-pytorch.onnx'),
      files: 1,
      bytes: 1269681,
      params: 317066,
      output: 'logits',
    });
    expect(teacher.imported!.runtime).toMatch(/^onnxruntime-node \d/);
    expect(teacher.imported!.no_tflite).toMatch(/ONNX model/);
    expect(teacher.tflite).toBeUndefined();
    expect(m.seeds!.map((s) => s.models.teacher!.accuracy)).toEqual([teacher.accuracy, teacher.accuracy]);
    // The students are compared with the imported teacher's predictions.
    expect(m.models.student!.tflite!.agreement_with_teacher).toBeGreaterThan(0);
    const files = await readdir(join(r.runsDir, 'onnx', 'latest'));
    expect(files).not.toContain('teacher.tflite');
    const report = await readFile(join(r.runsDir, 'onnx', 'latest', 'report.md'), 'utf8');
    expect(report).toContain(
      `teacher: imported ONNX model ${join(SHIPPED, 'mnist-cnn-pytorch.onnx')} (1 file, 1239.9 KiB, 317066 parameters), 99.45% on the test set in onnxruntime-node`,
    );
    expect(report).toContain('no teacher.tflite: kdq writes .tflite files from TF.js models only');
    expect(r.out).toContain('teacher: imported ONNX model');

    const again = await kdq('run', r.file, '--runs-dir', r.runsDir);
    expect(again.code).toBe(0);
    expect(again.err).toMatch(/^teacher: cached$/m);
    expect(again.err).toMatch(/^soft-labels: cached$/m);
    expect(again.err).not.toMatch(/^(teacher|soft-labels|student@s\d|baseline@s\d): running/m);
  });

  it('a TF.js LayersModel saved by tf.js: evaluated in tf.js, exported to teacher.tflite and run in LiteRT.js', async () => {
    const r = await runExperiment('tfjs', experiment('tfjs', `  model: ${join(TEACHERS, 'tfjs-cnn/model.json')}`));
    expect(r.code, r.err).toBe(0);
    const m = await metricsOf(r.runsDir, 'tfjs');
    expect(metricsSchemaErrors(m)).toEqual([]);
    const teacher = m.models.teacher!;
    expect(teacher.imported).toMatchObject({ format: 'tfjs-layers', files: 3, params: 5258, output: 'probabilities' });
    expect(teacher.imported!.no_tflite).toBeUndefined();
    expect(teacher.tflite).toMatchObject({ file: 'teacher.tflite', mode: 'float32' });
    // The float32 file is the same network: the same accuracy in LiteRT.js as in tf.js.
    expect(teacher.tflite!.accuracy).toBeCloseTo(teacher.accuracy!, 6);
    expect(existsSync(join(r.runsDir, 'tfjs', 'latest', 'teacher.tflite'))).toBe(true);
  });

  it("a TF.js teacher fine-tuned on the run's data before distillation: accuracy before and after, a training curve", async () => {
    const r = await runExperiment(
      'tuned',
      experiment('tuned', `  model: ${join(TEACHERS, 'tfjs-cnn/model.json')}\n  training: { epochs: 1, batchSize: 16, learningRate: 0.0001 }`),
    );
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/teacher@s1: fine-tuning on logits: the softmax of layer "probabilities" \(Dense\) is left out/);
    expect(r.err).toMatch(/teacher@s2: test accuracy after fine-tuning/);
    const m = await metricsOf(r.runsDir, 'tuned');
    expect(metricsSchemaErrors(m)).toEqual([]);
    const teacher = m.models.teacher!;
    expect(teacher.imported).toMatchObject({ format: 'tfjs-layers', fine_tuned_epochs: 1 });
    expect(teacher.tflite!.accuracy).toBeCloseTo(teacher.accuracy!, 6);
    const report = await readFile(join(r.runsDir, 'tuned', 'latest', 'report.md'), 'utf8');
    expect(report).toMatch(/teacher fine-tuned for 1 epoch on the run's data: \d+\.\d\d% on the test set/);
    expect(report).toMatch(/\| epoch \| teacher loss \| teacher accuracy \|/);
  });

  it('a .tflite file: run in LiteRT.js, and the report says it is a .tflite already', async () => {
    const r = await runExperiment('tflite', experiment('tflite', `  model: ${join(TEACHERS, 'cnn.tflite')}`));
    expect(r.code, r.err).toBe(0);
    const m = await metricsOf(r.runsDir, 'tflite');
    expect(metricsSchemaErrors(m)).toEqual([]);
    expect(m.models.teacher!.imported).toMatchObject({ format: 'tflite', files: 1, no_tflite: 'the teacher is a .tflite file already' });
    expect(m.models.teacher!.imported!.runtime).toMatch(/^@litertjs\/core /);
    expect(m.models.teacher!.accuracy).toBeGreaterThan(0.9);
  });
});

describe('a bad teacher stops the run before anything trains: exit 2, the file named, nothing cached', () => {
  const cases: [string, string, () => Promise<string>, RegExp][] = [
    [
      'wrong input shape',
      'cnn-32x32.onnx',
      async () => join(TEACHERS, 'cnn-32x32.onnx'),
      /takes input \[batch, 1, 32, 32\]: NCHW images of 32x32x1, but the data's images are 28x28x1/,
    ],
    ['wrong class count', 'cnn-5-classes.onnx', async () => join(TEACHERS, 'cnn-5-classes.onnx'), /outputs 5 classes but the data has 10 \(labels 0-9\)/],
    [
      'unsupported operator',
      'cnn-aten-op.onnx',
      async () => join(TEACHERS, 'cnn-aten-op.onnx'),
      /cannot run teacher model .*operators outside the ONNX standard: org\.pytorch\.aten:ATen/,
    ],
    [
      'NHWC model taken for NCHW',
      'cnn-nhwc.onnx',
      async () => join(TEACHERS, 'cnn-nhwc.onnx'),
      /takes input \[batch, 28, 28, 1\], which is NHWC .* but inputLayout is nchw \(the default for this format\); set inputLayout: nhwc/,
    ],
    [
      'truncated file',
      'truncated.onnx',
      async () => {
        const p = join(base, 'truncated.onnx');
        await copyFile(join(TEACHERS, 'cnn-logits.onnx'), p);
        await truncate(p, 9000);
        return p;
      },
      /is not a readable ONNX model: .*export or copy it again/,
    ],
  ];

  it.each(cases)('%s (%s)', async (label, file, make, message) => {
    const path = await make();
    const name = `bad-${file.replace(/\W/g, '-')}`;
    const r = await runExperiment(name, experiment(name, `  model: ${path}`));
    expect(r.code, r.err).toBe(2);
    expect(r.err).toContain(`'${path}'`);
    expect(r.err).toMatch(message);
    expect(r.err).not.toMatch(/\n\s+at |internal error/);
    expect(r.err).toMatch(/skipped because of it: .*baseline@s1/);
    expect(r.out).toBe('');
    expect(await cachedStages(r.runsDir), label).toEqual(['data']);
    expect((await readdir(r.runsDir)).filter((n) => !n.startsWith('.'))).toEqual([]);
    // kdq validate cannot know these without the data and the runtime: the file's format is fine.
    const v = await kdq('validate', r.file);
    expect(v.code).toBe(0);
  });
});

describe('kdq validate checks a teacher file without loading a runtime', () => {
  it('a good and a bad teacher file: the bad one at FILE:LINE:COL, and neither ONNX Runtime, tf.js nor LiteRT loaded', async () => {
    const { execa } = await import('execa');
    const { writeFile } = await import('node:fs/promises');
    // A module hook that reports every runtime package the process imports.
    const hook = join(base, 'hook.mjs');
    await writeFile(
      hook,
      "export async function resolve(s, c, next) { if (/^(onnxruntime-node|@tensorflow\\/tfjs|@litertjs\\/core)/.test(s)) console.error('LOADED ' + s); return next(s, c); }\n",
    );
    const register = join(base, 'register.mjs');
    await writeFile(register, `import { register } from 'node:module';\nregister(${JSON.stringify(`file://${hook}`)});\n`);
    const bad = join(ROOT, 'test/fixtures/invalid/teacher-model-pytorch-checkpoint.yaml');
    const r = await execa('node', ['--import', register, join(ROOT, 'bin/kdq.mjs'), 'validate', join(ROOT, 'experiments/kd-mnist-pytorch-teacher.yaml'), bad], {
      cwd: ROOT,
      reject: false,
    });
    expect(r.exitCode).toBe(2);
    expect(r.stdout).toContain('kd-mnist-pytorch-teacher.yaml: ok (44 stages, 5 seeds)');
    expect(r.stderr).toContain(
      "test/fixtures/invalid/teacher-model-pytorch-checkpoint.yaml:4:10: teacher.model: teacher model '../teachers/bad/checkpoint.pt' is a zip archive",
    );
    expect(r.stderr).not.toContain('LOADED');
  });
});
