import { mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Experiment } from '../../src/config/types.ts';
import { Cache } from '../../src/pipeline/cache.ts';
import { PipelineError } from '../../src/pipeline/pipeline-error.ts';
import { planExperiment } from '../../src/stages/plan.ts';
import { runGraph, type WalkOptions, type RunResult, type StageEvent } from '../../src/pipeline/run.ts';
import { experiment } from './fixtures/experiment.ts';
import { toyDefs, type ToyOptions } from './fixtures/toy-defs.ts';
import { readJson, writeJson } from '../../src/stages/context.ts';
import { MANIFEST_FILE } from '../../src/pipeline/manifest.ts';
import type { StageDefinitions } from '../../src/pipeline/stage.ts';

const env = { backend: 'cpu', tfjs: '4.22.0' };
let root: string;
let cache: Cache;
let warnings: string[];

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'kdq-run-'));
  warnings = [];
  cache = new Cache(join(root, 'cache'), { onWarn: (w) => warnings.push(w) });
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Runs an experiment with toy stages; returns the result and the stage ids that actually ran. */
async function run(exp: Experiment, opts: Partial<WalkOptions> = {}, toy: ToyOptions = {}): Promise<{ result: RunResult; calls: string[] }> {
  const calls: string[] = [];
  const result = await runGraph(planExperiment(exp), toyDefs({ ...toy, calls }), { cache, env, scratchDir: join(root, 'scratch'), ...opts });
  return { result, calls };
}
const status = (r: RunResult) => Object.fromEntries(r.stages.map((s) => [s.id, s.status]));
const ran = (r: RunResult) => r.stages.filter((s) => s.status === 'ran').map((s) => s.id);

const ALL = [
  'data',
  'teacher@s1',
  'soft-labels@s1',
  'student@s1',
  'baseline@s1',
  'export:teacher@s1',
  'export:student@s1',
  'export:student_baseline@s1',
  'export:student_int8@s1',
  'evaluate:teacher@s1',
  'evaluate:student@s1',
  'evaluate:student_baseline@s1',
  'evaluate:student_int8@s1',
  'report',
];

describe('runGraph', () => {
  it('runs every stage once, then serves all but the report from the cache without running them (spy)', async () => {
    const first = await run(experiment());
    expect(first.calls).toEqual(ALL);
    expect(ran(first.result)).toEqual(ALL);
    expect(first.result.ok).toBe(true);

    const defs = toyDefs();
    const teacherRun = vi.spyOn(defs.teacher!, 'run');
    const studentRun = vi.spyOn(defs.student!, 'run');
    const reportRun = vi.spyOn(defs.report!, 'run');
    const second = await runGraph(planExperiment(experiment()), defs, { cache, env, scratchDir: join(root, 'scratch') });
    expect(teacherRun).not.toHaveBeenCalled();
    expect(studentRun).not.toHaveBeenCalled();
    expect(reportRun).toHaveBeenCalledTimes(1); // not cacheable
    expect(ran(second)).toEqual(['report']);
    for (const [i, s] of second.stages.entries()) {
      expect(s.key).toBe(first.result.stages[i].key);
      if (s.id === 'report') continue;
      expect(s.status).toBe('cached');
      expect(s.reason).toBe('cache hit');
      expect(s.outDir).toBe(first.result.stages[i].outDir);
    }
    // The cached entries hold what the first run wrote, and the report read them.
    const report = await readFile(join(second.stages.at(-1)!.outDir!, 'out.txt'), 'utf8');
    expect(report).toBe(await readFile(join(first.result.stages.at(-1)!.outDir!, 'out.txt'), 'utf8'));
    expect(report).toContain('<evaluate:student_int8@s1: ');
  });

  it('a fully cached run costs milliseconds in the walker', async () => {
    await run(experiment());
    // Best of three: on a loaded 2-core machine a single run can lose hundreds of ms to scheduling.
    let best = Infinity;
    for (let i = 0; i < 3; i++) {
      const t = performance.now();
      const { result, calls } = await run(experiment());
      best = Math.min(best, performance.now() - t);
      expect(calls).toEqual(['report']);
      expect(result.stages).toHaveLength(14);
    }
    console.log(`fully cached run of 14 stages: best of 3 ${best.toFixed(1)} ms`);
    expect(best).toBeLessThan(500); // typically 4-15 ms
  });

  it('a temperature change reruns only the distilled student, its exports, its evaluates and the report', async () => {
    const exp = experiment();
    const first = await run(exp);
    exp.distillation.temperature = 2;
    const second = await run(exp, { previous: first.result });
    expect(second.calls).toEqual(['student@s1', 'export:student@s1', 'export:student_int8@s1', 'evaluate:student@s1', 'evaluate:student_int8@s1', 'report']);
    expect(status(second.result)).toMatchObject({
      'teacher@s1': 'cached',
      'soft-labels@s1': 'cached',
      'baseline@s1': 'cached',
      'export:student_baseline@s1': 'cached',
      'evaluate:student_baseline@s1': 'cached',
    });
    const reason = (id: string) => second.result.stages.find((s) => s.id === id)!.reason;
    expect(reason('student@s1')).toBe('no entry for key (config changed: distillation.temperature 4 -> 2)');
    expect(reason('export:student_int8@s1')).toBe('no entry for key (dep:student@s1 changed)');
    expect(reason('report')).toBe('not cacheable');
  });

  it('a teacher change reruns everything downstream of the teacher', async () => {
    const exp = experiment();
    await run(exp);
    exp.teacher.training.epochs = 3;
    const { calls } = await run(exp);
    expect(calls).toEqual([
      'teacher@s1',
      'soft-labels@s1',
      'student@s1',
      'export:teacher@s1',
      'export:student@s1',
      'export:student_int8@s1',
      'evaluate:teacher@s1',
      'evaluate:student@s1',
      'evaluate:student_baseline@s1',
      'evaluate:student_int8@s1',
      'report',
    ]);
  });

  it('a changed data fingerprint reruns everything', async () => {
    await run(experiment(), {}, { dataSha: 'one' });
    const { calls } = await run(experiment(), {}, { dataSha: 'two' });
    expect(calls).toEqual(ALL);
  });

  it('force reruns all; forceStages reruns the named stages (by id or kind) and their dependents', async () => {
    await run(experiment());
    expect((await run(experiment(), { force: true })).calls).toEqual(ALL);
    const byId = await run(experiment(), { forceStages: ['baseline@s1'] });
    expect(byId.calls).toEqual(['baseline@s1', 'export:student_baseline@s1', 'evaluate:student_baseline@s1', 'report']);
    const reasons = Object.fromEntries(byId.result.stages.map((s) => [s.id, s.reason]));
    expect(reasons['baseline@s1']).toBe('forced (--force-stage)');
    expect(reasons['export:student_baseline@s1']).toBe('forced (depends on a forced stage)');
    const byKind = await run(experiment(), { forceStages: ['export'] });
    expect(byKind.calls).toEqual([
      'export:teacher@s1',
      'export:student@s1',
      'export:student_baseline@s1',
      'export:student_int8@s1',
      'evaluate:teacher@s1',
      'evaluate:student@s1',
      'evaluate:student_baseline@s1',
      'evaluate:student_int8@s1',
      'report',
    ]);
    await expect(run(experiment(), { forceStages: ['techer'] })).rejects.toThrow(/"techer" matches no stage/);
  });

  it('dryRun computes keys and says what would run and why, running and writing nothing', async () => {
    const exp = experiment();
    const cold = await run(exp, { dryRun: true });
    expect(cold.calls).toEqual([]);
    expect(new Set(Object.values(status(cold.result)))).toEqual(new Set(['would-run']));
    expect(await readdir(root)).toEqual([]); // not even the cache folder

    const real = await run(exp);
    expect(cold.result.stages.map((s) => s.key)).toEqual(real.result.stages.map((s) => s.key));
    exp.distillation.temperature = 8;
    const dry = await run(exp, { dryRun: true, previous: real.result });
    expect(dry.calls).toEqual([]);
    expect(dry.result.stages.filter((s) => s.status === 'would-run').map((s) => s.id)).toEqual([
      'student@s1',
      'export:student@s1',
      'export:student_int8@s1',
      'evaluate:student@s1',
      'evaluate:student_int8@s1',
      'report',
    ]);
    expect(dry.result.stages.find((s) => s.id === 'evaluate:student@s1')!.reason).toBe('no entry for key (dep:export:student@s1 changed)');
    // The dry run's prediction is what a real run then does.
    expect((await run(exp)).calls).toEqual(dry.result.stages.filter((s) => s.status === 'would-run').map((s) => s.id));
  });

  it('a failing stage skips its dependents, lets independent stages finish, throws, and leaves no entry', async () => {
    const events: StageEvent[] = [];
    const err = await run(experiment(), { onEvent: (e) => events.push(e) }, { failing: new Set(['teacher@s1']) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PipelineError);
    const pe = err as PipelineError;
    expect(pe.code).toBe('E_INTERNAL');
    expect(pe.message).toMatch(/stage "teacher@s1" failed: toy failure in teacher@s1\nskipped because of it: soft-labels@s1, student@s1/);
    const st = status(pe.result);
    expect(st).toMatchObject({
      data: 'ran',
      'teacher@s1': 'failed',
      'soft-labels@s1': 'skipped',
      'baseline@s1': 'ran',
      'export:student_baseline@s1': 'ran',
      'evaluate:student_baseline@s1': 'skipped',
      report: 'skipped',
    });
    expect(pe.result.ok).toBe(false);
    expect(pe.result.stages.find((s) => s.id === 'student@s1')!.reason).toBe('dependency soft-labels@s1 was skipped');
    expect(pe.result.stages.find((s) => s.id === 'soft-labels@s1')!.reason).toBe('dependency teacher@s1 failed');
    const teacherKey = pe.result.stages.find((s) => s.id === 'teacher@s1')!.key;
    expect(await cache.get(teacherKey)).toBeNull();
    expect(await readdir(join(root, 'cache', 'tmp'))).toEqual([]);
    expect(await readdir(join(root, 'cache', 'locks'))).toEqual([]);
    expect(events.filter((e) => e.type === 'start').map((e) => (e as { id: string }).id)).toEqual([
      'data',
      'teacher@s1',
      'baseline@s1',
      'export:student_baseline@s1',
    ]);

    // Fixed, the next run reuses what the failed run finished.
    const { calls } = await run(experiment());
    expect(calls).not.toContain('data');
    expect(calls).not.toContain('baseline@s1');
    expect(calls).toContain('teacher@s1');
  });

  it('passes a data error through with its code, so the CLI exits 2', async () => {
    const defs = toyDefs();
    defs.data = {
      ...defs.data!,
      fingerprint: async () => {
        const { KdqError } = await import('../../src/errors.ts');
        throw new KdqError('E_DATA', 'missing train-images.idx');
      },
    };
    const err = (await runGraph(planExperiment(experiment()), defs, { cache, env }).catch((e: unknown) => e)) as PipelineError;
    expect(err.code).toBe('E_DATA');
    expect(err.exitCode).toBe(2);
    expect(new Set(err.result.stages.slice(1).map((s) => s.status))).toEqual(new Set(['skipped']));
  });

  it('gives stages their inputs by the planned names (upstream config, folder, key), an empty folder and a log', async () => {
    const seen: Record<string, unknown> = {};
    const logs: string[] = [];
    const { result } = await run(
      experiment(),
      { onEvent: (e) => e.type === 'log' && logs.push(`${e.id}: ${e.message}`) },
      {
        during: async (ctx) => {
          if (ctx.stage.id === 'export:teacher@s1') {
            const { model, data } = ctx.inputs;
            seen.inputs = Object.keys(ctx.inputs).sort();
            seen.model = [model!.id, model!.kind, model!.role, model!.dir, model!.key];
            seen.data = [data!.id, data!.config, data!.key];
            seen.outDirEmpty = (await readdir(ctx.outDir)).length === 0;
            ctx.log('writing the file');
          }
        },
      },
    );
    const r = (id: string) => result.stages.find((s) => s.id === id)!;
    // The float export's key takes only the model's: the data is upstream of it, so its key is in there.
    expect(Object.keys(r('export:teacher@s1').details).filter((k) => k.startsWith('dep:'))).toEqual(['dep:teacher@s1']);
    expect(seen).toEqual({
      inputs: ['data', 'model'],
      model: ['teacher@s1', 'teacher', 'teacher', r('teacher@s1').outDir, r('teacher@s1').key],
      data: ['data', experiment().data, r('data').key],
      outDirEmpty: true,
    });
    expect(logs).toEqual(['export:teacher@s1: writing the file']);
  });
});

describe('runGraph cancellation', () => {
  it('aborting mid-stage discards that stage, skips the rest and throws; the next run resumes', async () => {
    const ac = new AbortController();
    const err = (await run(
      experiment(),
      { signal: ac.signal },
      {
        during: async (ctx) => {
          if (ctx.stage.id !== 'student@s1') return;
          ac.abort(new Error('SIGINT'));
          if (ctx.signal.aborted) throw new Error('stopped by signal');
        },
      },
    ).catch((e: unknown) => e)) as PipelineError;
    expect(err).toBeInstanceOf(PipelineError);
    const st = status(err.result);
    expect(st['soft-labels@s1']).toBe('ran');
    expect(st['student@s1']).toBe('failed');
    expect(err.result.stages.find((s) => s.id === 'baseline@s1')!.reason).toBe('run cancelled');
    expect(await readdir(join(root, 'cache', 'tmp'))).toEqual([]);
    const { calls } = await run(experiment());
    expect(calls[0]).toBe('student@s1');
  });
});

describe('runGraph with damaged cache entries', () => {
  /** Rewrites a file of an entry, then its manifest to match, so only reading the file shows the damage. */
  async function damageWithMatchingManifest(dir: string, rel: string, text: string): Promise<void> {
    await writeFile(join(dir, rel), text);
    const m = JSON.parse(await readFile(join(dir, MANIFEST_FILE), 'utf8'));
    const { createHash } = await import('node:crypto');
    m.files[rel] = { size: Buffer.byteLength(text), sha256: createHash('sha256').update(text).digest('hex'), mtimeMs: (await stat(join(dir, rel))).mtimeMs };
    await writeFile(join(dir, MANIFEST_FILE), JSON.stringify(m));
  }

  /** Toy stages where each evaluate writes eval.json and the report reads them back as JSON. */
  function jsonDefs(calls: string[], evaluateOutput?: () => string): StageDefinitions {
    const defs = toyDefs({ calls });
    const toyEvaluate = defs.evaluate!;
    defs.evaluate = {
      ...toyEvaluate,
      async run(ctx) {
        await toyEvaluate.run(ctx);
        if (evaluateOutput) await writeFile(join(ctx.outDir, 'eval.json'), evaluateOutput());
        else await writeJson(ctx.outDir, 'eval.json', { accuracy: 0.5, stage: ctx.stage.id });
      },
    };
    defs.report = {
      ...defs.report!,
      async run(ctx) {
        calls.push(ctx.stage.id);
        const evals = [];
        for (const input of Object.values(ctx.inputs)) if (input!.kind === 'evaluate') evals.push(await readJson(input!.dir, 'eval.json'));
        await writeJson(ctx.outDir, 'out.json', evals);
      },
    };
    return defs;
  }

  it('re-hashes every entry it uses: a same-size edit that kept the mtime is healed and recomputed', async () => {
    const first = await run(experiment());
    const exp = first.result.stages.find((s) => s.id === 'export:student_int8@s1')!;
    const file = join(exp.outDir!, 'out.txt');
    const st = await stat(file);
    const text = await readFile(file, 'utf8');
    await writeFile(file, text.replace(/^export/, 'EXPORT'));
    await utimes(file, st.atime, st.mtime);
    const manifest = JSON.parse(await readFile(join(exp.outDir!, MANIFEST_FILE), 'utf8'));
    manifest.files['out.txt'].mtimeMs = (await stat(file)).mtimeMs; // as if the edit kept the mtime to the nanosecond
    await writeFile(join(exp.outDir!, MANIFEST_FILE), JSON.stringify(manifest));
    const again = await run(experiment());
    expect(again.calls).toEqual(['export:student_int8@s1', 'report']);
    expect(warnings).toEqual([expect.stringMatching(new RegExp(`cache entry ${exp.key} .* is corrupt \\(out.txt has sha256 .*\\); deleting it`))]);
    expect(await readFile(file, 'utf8')).toBe(text);
  });

  it('a JSON file that does not parse although its manifest matches: warns naming it, recomputes its stage, reruns the reader', async () => {
    const calls: string[] = [];
    const graph = planExperiment(experiment());
    const first = await runGraph(graph, jsonDefs(calls), { cache, env, scratchDir: join(root, 'scratch') });
    const ev = first.stages.find((s) => s.id === 'evaluate:student@s1')!;
    await damageWithMatchingManifest(ev.outDir!, 'eval.json', 'x{"accuracy": 0.5}');
    calls.length = 0;
    const ends: string[] = []; // what an event consumer (the CLI's log) saw at the time
    const onEvent = (e: StageEvent) => e.type === 'end' && e.result.id === 'evaluate:student@s1' && ends.push(e.result.status);
    const second = await runGraph(graph, jsonDefs(calls), { cache, env, scratchDir: join(root, 'scratch'), onEvent });
    expect(second.ok).toBe(true);
    expect(calls).toEqual(['report', 'evaluate:student@s1', 'report']);
    expect(warnings).toEqual([
      `cache entry ${ev.key} at ${ev.outDir} is corrupt (eval.json: not valid JSON: Unexpected token 'x', "x{"accuracy": 0.5}" is not valid JSON); deleting it, the stage will be recomputed`,
    ]);
    const redone = second.stages.find((s) => s.id === 'evaluate:student@s1')!;
    expect(redone).toMatchObject({ status: 'ran', outDir: ev.outDir });
    expect(redone.reason).toMatch(/^its cache entry was damaged \(eval.json: not valid JSON/);
    expect(JSON.parse(await readFile(join(ev.outDir!, 'eval.json'), 'utf8'))).toEqual({ accuracy: 0.5, stage: 'evaluate:student@s1' });
    expect(ends).toEqual(['cached', 'ran']);
  });

  it('an input that a stage of this run wrote unparsable is not healed: the reader fails naming the file', async () => {
    const calls: string[] = [];
    const err = (await runGraph(
      planExperiment(experiment()),
      jsonDefs(calls, () => '{"accuracy": 0.5'),
      { cache, env, scratchDir: join(root, 'scratch') },
    ).catch((e: unknown) => e)) as PipelineError;
    expect(err).toBeInstanceOf(PipelineError);
    expect(err.message).toMatch(new RegExp(`stage "report" failed: ${root}/cache/[0-9a-f]{2}/[0-9a-f]{64}/eval.json is damaged \\(not valid JSON: .*\\)`));
    expect(calls.filter((c) => c === 'report')).toHaveLength(1);
    expect(warnings).toEqual([]);
  });
});
