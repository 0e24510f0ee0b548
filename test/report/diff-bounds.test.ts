/**
 * What `kdq diff` refuses to read or parse: bounded depth, size and value count for metrics.json,
 * bounded gate expressions, special files. Each is a clear exit-2 error, never a stack overflow.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KdqError } from '../../src/errors.ts';
import { MAX_GATE_NESTING, parseCondition } from '../../src/report/gate.ts';
import { MAX_JSON_DEPTH, MAX_METRIC_VALUES, MAX_METRICS_BYTES, readRun } from '../../src/report/read-run.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kdq-diff-bounds-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function runWith(name: string, metrics: string): Promise<string> {
  await mkdir(join(dir, name), { recursive: true });
  await writeFile(join(dir, name, 'metrics.json'), metrics);
  return join(dir, name);
}

async function refusal(p: Promise<unknown>): Promise<KdqError> {
  const e = await p.then(
    () => null,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(KdqError);
  expect((e as KdqError).exitCode).toBe(2);
  return e as KdqError;
}

describe('kdq diff reads only what a kdq run could have written', () => {
  it('refuses metrics.json nested deeper than the bound (JSON.parse and the walk would overflow)', async () => {
    const run = await runWith('deep', `{"m":${'['.repeat(100_000)}${']'.repeat(100_000)}}`);
    expect((await refusal(readRun(run, dir))).message).toContain(`nests deeper than ${MAX_JSON_DEPTH} levels (at byte 68)`);
    // Brackets inside strings do not count.
    const ok = await runWith('strings', JSON.stringify({ experiment: 'x', note: '['.repeat(1000) }));
    expect((await readRun(ok, dir)).metrics).toMatchObject({ experiment: 'x' });
  });

  it('refuses a file over the size bound before reading it, and one with too many values', async () => {
    const big = await runWith('big', ' '.repeat(MAX_METRICS_BYTES + 1));
    expect((await refusal(readRun(big, dir))).message).toContain(`over the ${MAX_METRICS_BYTES}-byte limit`);
    const many = await runWith('many', JSON.stringify({ m: Object.fromEntries(Array.from({ length: MAX_METRIC_VALUES + 1 }, (_, i) => [i, i])) }));
    expect((await refusal(readRun(many, dir))).message).toContain(`holds more than ${MAX_METRIC_VALUES} values`);
  });

  it('refuses a FIFO without blocking on it', { timeout: 10_000 }, async () => {
    await mkdir(join(dir, 'fifo'));
    execFileSync('mkfifo', [join(dir, 'fifo', 'metrics.json')]);
    expect((await refusal(readRun(join(dir, 'fifo'), dir))).message).toContain('is a FIFO (named pipe), not a regular file');
  });

  it('refuses gate expressions longer or deeper than a CI line holds', () => {
    expect(() => parseCondition(`${'('.repeat(50_000)}a < 1${')'.repeat(50_000)}`)).toThrow(/over the 2000-character limit/);
    const deep = `${'('.repeat(MAX_GATE_NESTING + 1)}a < 1${')'.repeat(MAX_GATE_NESTING + 1)}`;
    expect(() => parseCondition(deep)).toThrow(/nest deeper than 32 levels/);
    expect(parseCondition(`${'('.repeat(MAX_GATE_NESTING)}a < 1${')'.repeat(MAX_GATE_NESTING)}`)).toMatchObject({ kind: 'compare' });
  });
});
