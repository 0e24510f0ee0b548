/**
 * Whatever a user (or a fuzzer) writes, loadExperiment resolves to an Experiment or throws a
 * ConfigError with well-formed issues: never a TypeError, a RangeError or a hang.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { parse, stringify } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { loadExperiment } from '../../src/config/load.ts';
import { planExperiment } from '../../src/stages/plan.ts';
import { ConfigError, KdqError } from '../../src/errors.ts';
import { main } from '../../src/cli.ts';
import { trainedTeacher } from './trained-teacher.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const tmp = mkdtempSync(path.join(tmpdir(), 'kdq-fuzz-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
// The extends examples need their base next to them.
copyFileSync(path.join(ROOT, 'experiments/kd-mnist.yaml'), path.join(tmp, 'kd-mnist.yaml'));

const SEEDS = [
  'experiments/kd-mnist.yaml',
  'experiments/kd-mnist-hinton.yaml',
  'experiments/kd-mnist-1k-student.yaml',
  'test/fixtures/valid/written-defaults.yaml',
  'test/fixtures/valid/omitted-defaults.yaml',
].map((f) => readFileSync(path.join(ROOT, f), 'utf8'));

let mutants = 0;

/**
 * Loads and plans `text` as an experiment file and checks the only two allowed outcomes: a valid
 * plan, or a clean KdqError (a ConfigError with well-formed issues when the file is at fault).
 * Every 25th mutant also goes through `kdq validate`, which must exit 0 or 2 with no stack trace.
 */
async function loadsOrRejectsCleanly(text: string, set?: string[]): Promise<void> {
  const file = path.join(tmp, 'mutant.yaml');
  writeFileSync(file, text);
  if (mutants++ % 25 === 0) {
    let out = '';
    const sink = new Writable({
      write(chunk, _enc, cb) {
        out += String(chunk);
        cb();
      },
    });
    const code = await main(['validate', file, ...(set ?? []).flatMap((s) => ['--set', s])], { stdout: sink, stderr: sink });
    expect([0, 2], out).toContain(code);
    expect(out).not.toMatch(/\n\s+at |internal error/);
  }
  try {
    const { experiment } = await loadExperiment(file, { set });
    expect(typeof experiment.name).toBe('string');
    expect(trainedTeacher(experiment.teacher).layers.length).toBeGreaterThan(0);
    expect(experiment.student.layers.length).toBeGreaterThan(0);
    expect(experiment.evaluation.seeds.length).toBeGreaterThan(0);
    const graph = planExperiment(experiment);
    const ids = Object.keys(graph.stages);
    expect(ids).toContain('report');
    for (const st of Object.values(graph.stages)) for (const d of st.deps) expect(ids).toContain(d);
  } catch (e) {
    if (!(e instanceof KdqError)) throw e;
    expect(e.code === 'E_INTERNAL', e.message).toBe(false);
    if (!(e instanceof ConfigError)) return;
    expect(e.issues.length).toBeGreaterThan(0);
    for (const i of e.issues) {
      expect(typeof i.file).toBe('string');
      expect(Number.isInteger(i.line) && i.line >= 0).toBe(true);
      expect(Number.isInteger(i.col) && i.col >= 0).toBe(true);
      expect(typeof i.path).toBe('string');
      expect(i.message.length).toBeGreaterThan(0);
    }
  }
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Every path to a value inside `v`. */
function paths(v: Json, at: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(at);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...at, i], out));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) paths(x, [...at, k], out);
  return out;
}

type Mutation = { kind: 'delete' | 'replace' | 'swap'; pick: number; value: Json };

function mutate(doc: Json, m: Mutation): Json {
  const all = paths(doc).filter((p) => p.length > 0);
  if (all.length === 0) return doc;
  const target = all[m.pick % all.length]!;
  const parent = target.slice(0, -1).reduce<any>((o, k) => o[k], doc);
  const key = target[target.length - 1]!;
  if (m.kind === 'delete') {
    if (Array.isArray(parent)) parent.splice(Number(key), 1);
    else delete parent[key];
  } else if (m.kind === 'replace') {
    parent[key] = m.value;
  } else {
    // Same information, wrong type: 2 -> '2', 'relu' -> ['relu'], true -> 1, [..] -> {0: ..}.
    const v = parent[key];
    parent[key] =
      typeof v === 'number'
        ? String(v)
        : typeof v === 'string'
          ? [v]
          : typeof v === 'boolean'
            ? Number(v)
            : Array.isArray(v)
              ? { ...v }
              : v === null
                ? 0
                : Object.values(v);
  }
  return doc;
}

const mutation = fc.record({
  kind: fc.constantFrom<Mutation['kind']>('delete', 'replace', 'swap'),
  pick: fc.nat(),
  value: fc.oneof(
    fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>,
    fc.constantFrom<Json>(0, -1, 1.5, 1e9, '', 'relu', 'maxpool2d', null, [], {}, [3, 3], 'softmax', 'int8', 'idx'),
  ),
});

describe('loadExperiment on mutated files', () => {
  it('structural mutations: key deletions, value replacements, type swaps', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat(SEEDS.length - 1), fc.array(mutation, { minLength: 1, maxLength: 4 }), async (seed, ms) => {
        let doc = parse(SEEDS[seed]!) as Json;
        for (const m of ms) doc = mutate(doc, m);
        await loadsOrRejectsCleanly(stringify(doc));
      }),
      { numRuns: 60 },
    );
  });

  it('text mutations: inserted, deleted and replaced characters, shuffled and re-indented lines', async () => {
    const edit = fc.record({
      kind: fc.constantFrom('insert', 'delete', 'replace', 'dup-line', 'drop-line', 'indent'),
      at: fc.nat(),
      text: fc.oneof(
        fc.string({ maxLength: 6 }),
        fc.constantFrom(':', '- ', '{', '[', ']', '&a ', '*a', '!!js/function ', '!x ', '\t', '"', "'", '#', '\n', '  '),
      ),
    });
    await fc.assert(
      fc.asyncProperty(fc.nat(SEEDS.length - 1), fc.array(edit, { minLength: 1, maxLength: 5 }), async (seed, edits) => {
        let text = SEEDS[seed]!;
        for (const e of edits) {
          const at = e.at % (text.length + 1);
          const lines = text.split('\n');
          const li = e.at % lines.length;
          if (e.kind === 'insert') text = text.slice(0, at) + e.text + text.slice(at);
          else if (e.kind === 'delete') text = text.slice(0, at) + text.slice(at + 1 + (e.text.length % 4));
          else if (e.kind === 'replace') text = text.slice(0, at) + e.text + text.slice(at + e.text.length);
          else if (e.kind === 'dup-line') text = [...lines.slice(0, li + 1), ...lines.slice(li)].join('\n');
          else if (e.kind === 'drop-line') text = [...lines.slice(0, li), ...lines.slice(li + 1)].join('\n');
          else text = lines.map((l, i) => (i === li ? ` ${l}` : l)).join('\n');
        }
        await loadsOrRejectsCleanly(text);
      }),
      { numRuns: 80 },
    );
  });

  it('arbitrary --set arguments', async () => {
    const key = fc.constantFrom(
      'seed',
      'name',
      'distillation.temperature',
      'student.layers.0',
      'student.layers.0.filters',
      'teacher.layers.7',
      'data',
      'data.source',
      'evaluation.seeds',
      'x.y.z',
      '__proto__',
      'student.layers.a',
    );
    const arg = fc.oneof(
      fc
        .tuple(key, fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom('2', '-1', 'null', '[1,2]', '{a: 1}', '!!js/function x', '[', 'maxpool2d')))
        .map(([k, v]) => `${k}=${v}`),
      fc.string({ maxLength: 12 }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(arg, { maxLength: 3 }), async (set) => {
        await loadsOrRejectsCleanly(SEEDS[0]!, set);
      }),
      { numRuns: 60 },
    );
  });
});
