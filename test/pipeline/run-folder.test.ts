import { existsSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KdqError } from '../../src/errors.ts';
import { createRunFolder, makeRunId } from '../../src/pipeline/run-folder.ts';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'kdq-runs-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('run folders', () => {
  it('makes sortable UTC run ids', () => {
    expect(makeRunId(new Date('2026-11-27T20:05:09.500Z'), 'a1b2')).toBe('20261127-200509-a1b2');
    expect(makeRunId(new Date('2026-01-02T03:04:05Z'))).toMatch(/^20260102-030405-[0-9a-f]{4}$/);
    expect(makeRunId(new Date('2026-01-02T03:04:05Z'), '0000') < makeRunId(new Date('2026-01-02T03:04:06Z'), '0000')).toBe(true);
  });

  it('creates runs/<name>/<run-id>/, writes files atomically and points latest at the finished run', async () => {
    const now = new Date('2026-11-27T20:05:09Z');
    const a = await createRunFolder(root, 'kd-mnist', { now });
    expect(a.dir).toBe(join(root, 'kd-mnist', a.id));
    expect(a.id).toMatch(/^20261127-200509-[0-9a-f]{4}$/);
    await a.writeJson('stages.json', { ok: true });
    await a.writeFile('models/student_int8.tflite', new Uint8Array([1, 2, 3]));
    // Until finish(), the run is in a hidden partial folder: nothing under its final name.
    expect(existsSync(a.dir)).toBe(false);
    expect(a.path('stages.json')).toContain(`.partial-${a.id}-${process.pid}`);
    expect(await readFile(a.path('stages.json'), 'utf8')).toBe('{\n  "ok": true\n}\n');
    await a.finish();
    expect(await readFile(join(a.dir, 'stages.json'), 'utf8')).toBe('{\n  "ok": true\n}\n');
    expect([...(await readFile(join(a.dir, 'models', 'student_int8.tflite')))]).toEqual([1, 2, 3]);
    expect((await readdir(a.dir)).sort()).toEqual(['models', 'stages.json']); // no temp files left
    expect(await readlink(join(root, 'kd-mnist', 'latest'))).toBe(a.id);
    // Writes after finish() go to the finished folder.
    await a.writeFile('late.txt', 'x');
    expect(await readFile(join(a.dir, 'late.txt'), 'utf8')).toBe('x');

    // Same second: still a new folder; finishing it moves latest.
    const b = await createRunFolder(root, 'kd-mnist', { now });
    expect(b.id).not.toBe(a.id);
    await b.finish();
    expect(await readlink(join(root, 'kd-mnist', 'latest'))).toBe(b.id);
    expect((await lstat(join(root, 'kd-mnist', 'latest'))).isSymbolicLink()).toBe(true);
    // latest resolves to b now, which has no stages.json yet (a's has).
    expect(await readFile(join(root, 'kd-mnist', 'latest', 'stages.json'), 'utf8').catch(() => 'none')).toBe('none');
    expect((await readdir(join(root, 'kd-mnist'))).filter((n) => n.includes('tmp') || n.includes('partial'))).toEqual([]);
  });

  it('removes the partial folder of a run whose process died, and keeps a live one', async () => {
    const base = join(root, 'kd-mnist');
    await mkdir(join(base, '.partial-20261127-200509-dead-2147483646'), { recursive: true });
    await mkdir(join(base, `.partial-20261127-200509-live-${process.ppid}`), { recursive: true });
    const f = await createRunFolder(root, 'kd-mnist');
    const left = (await readdir(base)).filter((n) => n.startsWith('.partial-'));
    expect(left.sort()).toEqual([`.partial-${f.id}-${process.pid}`, `.partial-20261127-200509-live-${process.ppid}`].sort());
  });

  it('refuses names and paths that would escape the runs folder', async () => {
    for (const bad of ['../x', '..', 'a/b', '/etc', '', '.hidden', 'a\\b']) {
      const err = await createRunFolder(root, bad).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(KdqError);
      expect((err as KdqError).message).toContain(`"${bad}"`);
    }
    expect(await readdir(root)).toEqual([]);
    const f = await createRunFolder(root, 'ok');
    expect(() => f.path('../../escape.txt')).toThrow(/outside the run folder/);
    expect(() => f.path('/etc/passwd')).toThrow(/outside the run folder/);
    await expect(f.writeFile('../sibling.txt', 'x')).rejects.toThrow(/outside the run folder/);
    expect(f.path('a/../b.txt')).toBe(f.path('b.txt'));
  });
});

describe('stages.json', () => {
  it('round-trips a RunResult through the latest run, and is null when missing or damaged', async () => {
    const { readLatestStages, writeStages, STAGES_FILE } = await import('../../src/pipeline/stages-file.ts');
    expect(await readLatestStages(root, 'kd')).toBeNull();
    const result = {
      ok: true,
      seconds: 1.5,
      stages: [
        {
          id: 'data',
          kind: 'data' as const,
          key: 'ab'.repeat(32),
          details: { config: 'c' },
          status: 'ran' as const,
          seconds: 1,
          outDir: join(root, '.cache', 'ab', 'ab'.repeat(32)),
          reason: 'no entry for key',
        },
      ],
    };
    const f = await createRunFolder(root, 'kd');
    await writeStages(f, result, { runsDir: root });
    await f.finish();
    // Output folders come back relative to the runs folder (format 2).
    expect(await readLatestStages(root, 'kd')).toEqual({ ...result, stages: [{ ...result.stages[0], outDir: `.cache/ab/${'ab'.repeat(32)}` }] });
    await f.writeFile(STAGES_FILE, '{"stages": 3');
    expect(await readLatestStages(root, 'kd')).toBeNull();
  });

  it('holds no absolute path, and records when the run started and finished and which sweep point it is', async () => {
    const { readStages, writeStages } = await import('../../src/pipeline/stages-file.ts');
    const stage = { id: 'report', kind: 'report', key: '', details: {}, status: 'ran' as const, seconds: 0, reason: 'not cacheable' };
    // Inside the runs folder: relative; a scratch folder elsewhere (gone after the run): null.
    const result = {
      ok: true,
      seconds: 2,
      stages: [
        { ...stage, outDir: join(root, '.cache', 'tmp', 'x') },
        { ...stage, id: 'scratch', outDir: join(tmpdir(), 'kdq-scratch-x', 'report') },
      ],
    };
    const f = await createRunFolder(root, 'kd-p1');
    const sweep = { id: '20260101-000000-abcd', point: 'p1', params: { 'distillation.temperature': 5 } };
    await writeStages(f, result, { runsDir: root, startedAt: new Date('2026-01-01T00:00:00Z'), finishedAt: new Date('2026-01-01T00:01:30Z'), sweep });
    await f.finish();
    const text = await readFile(join(f.dir, 'stages.json'), 'utf8');
    expect(text).not.toContain(root);
    expect(await readStages(f.dir)).toMatchObject({
      format: 2,
      startedAt: '2026-01-01T00:00:00.000Z',
      finishedAt: '2026-01-01T00:01:30.000Z',
      sweep,
      stages: [{ outDir: '.cache/tmp/x' }, { outDir: null }],
    });
  });

  it('reads format 1 (absolute output folders) relative to the runs folder', async () => {
    const { readStages } = await import('../../src/pipeline/stages-file.ts');
    const dir = join(root, 'old', '20250101-000000-abcd');
    await mkdir(dir, { recursive: true });
    await writeFile(
      join(dir, 'stages.json'),
      JSON.stringify({ format: 1, ok: true, seconds: 3, stages: [{ id: 'data', key: 'k', outDir: join(root, '.cache', 'k') }] }),
    );
    expect((await readStages(dir, root))?.stages[0]?.outDir).toBe('.cache/k');
  });
});
