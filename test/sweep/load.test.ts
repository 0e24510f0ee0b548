import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { formatIssue, ConfigError, type ConfigIssue } from '../../src/errors.ts';
import { loadSweep } from '../../src/sweep/load.ts';
import { validate } from '../../src/api.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const tmp = mkdtempSync(path.join(tmpdir(), 'kdq-sweep-load-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A sweep file next to the tiny e2e experiment, which it extends. */
function sweepFile(name: string, sweep: string): string {
  const file = path.join(tmp, name);
  const base = path.relative(tmp, path.join(ROOT, 'test/e2e/tiny.yaml'));
  writeFileSync(file, `extends: ${base}\nname: sw\nsweep:\n${sweep}`);
  return file;
}

async function issuesOf(p: Promise<unknown>): Promise<string[]> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConfigError);
  return (err as ConfigError).issues.map((i: ConfigIssue) => formatIssue(i));
}

describe('loadSweep', () => {
  it('loads every point as a full experiment with its values and its own name', async () => {
    const file = sweepFile(
      'ok.yaml',
      '  distillation.temperature: [1, 5]\n  zip:\n    distillation.hardWeight: [0.2, 0.8]\n    distillation.softWeight: [0.8, 0.2]\n',
    );
    const { base, sweep } = await loadSweep(file, { set: ['seed=3'] });
    expect(base.experiment.name).toBe('sw');
    expect(
      sweep!.points.map((p) => [
        p.loaded.experiment.name,
        p.loaded.experiment.seed,
        p.loaded.experiment.distillation.temperature,
        p.loaded.experiment.distillation.hardWeight,
      ]),
    ).toEqual([
      ['sw-p1', 3, 1, 0.2],
      ['sw-p2', 3, 1, 0.8],
      ['sw-p3', 3, 5, 0.2],
      ['sw-p4', 3, 5, 0.8],
    ]);
    expect(await validate(file)).toMatchObject({ points: 4 });
  });

  it('adds --sweep axes to a file without a sweep, and returns no sweep without either', async () => {
    const tiny = path.join(ROOT, 'test/e2e/tiny.yaml');
    expect((await loadSweep(tiny)).sweep).toBeNull();
    const { sweep } = await loadSweep(tiny, { sweep: ['distillation.temperature=2,4,8'] });
    expect(sweep!.points.map((p) => p.loaded.experiment.distillation.temperature)).toEqual([2, 4, 8]);
  });

  it('points at the bad value in the file, validated like the file itself', async () => {
    const file = sweepFile('bad-value.yaml', '  distillation.temperature: [2, -1]\n');
    const issues = await issuesOf(loadSweep(file));
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatch(
      new RegExp(
        `^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(tmp, '.*')}:4:33: distillation\\.temperature: sweep value -1 of distillation\\.temperature: must be > 0`,
      ),
    );
  });

  it('names a key path the experiment does not have, with a suggestion', async () => {
    const file = sweepFile('bad-key.yaml', '  distillation.temprature: [1, 2]\n');
    const issues = await issuesOf(loadSweep(file));
    expect(issues).toEqual([
      expect.stringContaining(
        ":4:3: sweep.distillation.temprature: 'distillation.temprature' is not a key of this experiment: distillation has no key 'temprature'; did you mean 'distillation.temperature'?",
      ),
    ]);
  });

  it('rejects zip lists of different lengths where the zip block is', async () => {
    const file = sweepFile('bad-zip.yaml', '  zip:\n    distillation.hardWeight: [0.2, 0.8]\n    distillation.softWeight: [0.8]\n');
    const issues = await issuesOf(loadSweep(file));
    expect(issues).toEqual([expect.stringMatching(/:4:3: sweep\.zip: zip lists must have the same length/)]);
  });

  it('rejects a sweep value that is not a list through the schema', async () => {
    const file = sweepFile('not-list.yaml', '  distillation.temperature: 2\n');
    const issues = await issuesOf(loadSweep(file));
    expect(issues).toEqual([expect.stringMatching(/:4:.*sweep\.distillation\.temperature: must be a list/)]);
  });

  it('reports a bad --sweep argument by quoting it', async () => {
    const issues = await issuesOf(loadSweep(path.join(ROOT, 'test/e2e/tiny.yaml'), { sweep: ['distillation.temperature'] }));
    expect(issues).toEqual([expect.stringContaining('--sweep distillation.temperature')]);
    const bad = await issuesOf(loadSweep(path.join(ROOT, 'test/e2e/tiny.yaml'), { sweep: ['distillation.temperature=1,0'] }));
    expect(bad).toEqual([expect.stringContaining('sweep value 0 of distillation.temperature: must be > 0')]);
    expect(bad[0]).toMatch(/^--sweep distillation\.temperature=1,0/);
  });
});
