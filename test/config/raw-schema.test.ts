/**
 * What an editor's YAML language server sees: each file on its own, validated against
 * schemas/experiment.schema.json by a strict validator (no ajv extensions, no union types), with
 * the modeline the server looks for. kdq's own loader validates the merged experiment; these
 * checks make sure the schema accepts every file a user is shown, a file that extends another included.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('../..', import.meta.url).pathname;
const schema = JSON.parse(readFileSync(join(ROOT, 'schemas/experiment.schema.json'), 'utf8')) as object;
const validate = new Ajv2020({ strict: true, allErrors: true }).compile(schema);
const MODELINE = /^# yaml-language-server: \$schema=(\S+)$/;

const experiments = readdirSync(join(ROOT, 'experiments')).filter((f) => f.endsWith('.yaml'));
/** The README's yaml blocks that are whole experiment files (they have a top-level name). */
const readmeExamples = [...readFileSync(join(ROOT, 'README.md'), 'utf8').matchAll(/```yaml\n([\s\S]*?)```/g)]
  .map((m) => m[1]!)
  .filter((t) => /^name: /m.test(t));

const errorsOf = (doc: unknown) =>
  validate(doc) ? [] : (validate.errors ?? []).filter((e) => e.keyword !== 'if').map((e) => `${e.instancePath} ${e.message}`);

describe('the schema as an editor applies it', () => {
  it('compiles in ajv strict mode without union types', () => {
    expect(typeof validate).toBe('function');
  });

  it.each(experiments)('experiments/%s validates as it is written, and its modeline points at the schema', (file) => {
    const text = readFileSync(join(ROOT, 'experiments', file), 'utf8');
    expect(errorsOf(parse(text))).toEqual([]);
    expect(text.split('\n')[0]).toMatch(MODELINE);
    expect(MODELINE.exec(text.split('\n')[0]!)![1]).toBe('../schemas/experiment.schema.json');
  });

  it('every whole experiment the README shows validates, and its modeline uses one #', () => {
    expect(readmeExamples.length).toBeGreaterThanOrEqual(2);
    for (const text of readmeExamples) {
      expect(errorsOf(parse(text)), text.slice(0, 80)).toEqual([]);
      const modeline = text.split('\n').find((l) => l.includes('yaml-language-server'));
      if (modeline !== undefined) expect(modeline).toMatch(MODELINE);
    }
  });

  it('still requires the layers of a file that extends nothing, and not of one that extends a base', () => {
    expect(errorsOf({ name: 'x', teacher: { training: { epochs: 1 } }, student: { layers: [{ type: 'flatten' }] } })).toEqual([
      "/teacher must have required property 'layers'",
      "/teacher must have required property 'model'",
      '/teacher must match a schema in anyOf',
    ]);
    expect(errorsOf({ name: 'x', teacher: { model: 't.onnx' }, student: { layers: [{ type: 'flatten' }] } })).toEqual([]);
    expect(errorsOf({ extends: 'base.yaml', name: 'x', teacher: { training: { epochs: 1 } } })).toEqual([]);
    expect(errorsOf({ name: 'x' })).toEqual([" must have required property 'teacher'", " must have required property 'student'"]);
  });
});
