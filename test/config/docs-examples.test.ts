/**
 * Every YAML example in docs/experiment-file.md is valid. An example with a top-level `name` is a
 * whole experiment file written as if it sat in experiments/: it runs through `kdq validate`
 * (schema, defaults, semantic checks, the networks against the probed data) from a scratch copy of
 * that folder, so its relative paths (`extends: kd-mnist.yaml`, `../data/wine/wine.csv`) mean what
 * they say. Any other example is a fragment of a file: merged over a minimal experiment, it must
 * pass the schema, as an editor would check it (its data paths are illustrations, not files).
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { validate } from '../../src/api.ts';
import { deepMerge, isPlainObject } from '../../src/config/merge.ts';
import { checkExperimentSchema } from '../../src/config/schema.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const DOC = readFileSync(join(ROOT, 'docs/experiment-file.md'), 'utf8');
const blocks = [...DOC.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
const parsed = blocks.map((text) => ({ text, value: parse(text) as unknown }));
const whole = parsed.filter((b) => isPlainObject(b.value) && 'name' in b.value);
const fragments = parsed.filter((b) => isPlainObject(b.value) && !('name' in b.value));

/** What a fragment is merged over: the least a file needs. */
const MINIMAL = { name: 'doc-fragment', teacher: { layers: [{ type: 'dense', units: 10 }] }, student: { layers: [{ type: 'dense', units: 10 }] } };

/** A scratch root with experiments/ (every shipped file and the teachers, linked) beside data/, docs/ and schemas/. */
const scratch = mkdtempSync(join(tmpdir(), 'kdq-doc-examples-'));
mkdirSync(join(scratch, 'experiments'));
for (const entry of readdirSync(join(ROOT, 'experiments'))) symlinkSync(join(ROOT, 'experiments', entry), join(scratch, 'experiments', entry));
for (const dir of ['data', 'docs', 'schemas']) symlinkSync(join(ROOT, dir), join(scratch, dir));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const first = (text: string) => text.split('\n').find((l) => l.trim() !== '' && !l.startsWith('#')) ?? '';

describe('the YAML examples of docs/experiment-file.md', () => {
  it('are mappings (whole files or fragments of one), or comments only', () => {
    expect(whole.length).toBeGreaterThanOrEqual(3);
    expect(fragments.length).toBeGreaterThanOrEqual(10);
    for (const b of parsed) if (!isPlainObject(b.value)) expect(b.value, b.text.slice(0, 80)).toBeNull();
  });

  it.each(whole.map((b, i) => [i + 1, first(b.text), b.text] as const))('whole file %i (%s) passes kdq validate', async (i, _name, text) => {
    const file = join(scratch, 'experiments', `doc-example-${i}.yaml`);
    writeFileSync(file, text);
    const modeline = text.split('\n').find((l) => l.includes('yaml-language-server'));
    if (modeline !== undefined) expect(modeline).toBe('# yaml-language-server: $schema=../schemas/experiment.schema.json');
    const outcome = await validate(file, { runsDir: join(scratch, 'runs') }).then(
      (r) => ({ ok: true as const, stages: r.stages }),
      (err: Error) => ({ ok: false as const, message: err.message }),
    );
    expect(outcome).toMatchObject({ ok: true });
  });

  it.each(fragments.map((b, i) => [i + 1, first(b.text), b.value] as const))(
    'fragment %i (%s) passes the schema over a minimal experiment',
    (_i, _first, value) => {
      const errors = checkExperimentSchema(deepMerge(MINIMAL, value)).map((e) => `${e.instancePath} ${e.message}`);
      expect(errors).toEqual([]);
    },
  );
});
