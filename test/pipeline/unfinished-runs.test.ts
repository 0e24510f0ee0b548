import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Cache } from '../../src/pipeline/cache.ts';
import { beginRun, readUnfinishedRuns, UNFINISHED_FOLDER } from '../../src/pipeline/unfinished-runs.ts';
import { thisProcess } from '../../src/util/process-identity.ts';

let root: string;
let cache: Cache;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'kdq-unfinished-'));
  cache = new Cache(join(root, 'cache'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/** The pid of a process that has exited, so it is surely gone. */
function deadPid(): number {
  return Number(execFileSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).toString());
}

/** A record as a run that died at `startedMs` left it. */
async function failedRecord(experiment: string, startedMs: number): Promise<string> {
  const pid = deadPid();
  const path = join(cache.dir, UNFINISHED_FOLDER, `${startedMs}~${pid}~0123abcd.json`);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, JSON.stringify({ pid, host: hostname(), experiment, startedAt: new Date(startedMs).toISOString() }));
  return path;
}

describe('unfinished runs', () => {
  it('records a run from its start until it publishes, as running while its process lives', async () => {
    const run = await beginRun(cache, 'kd-mnist', Date.parse('2026-01-02T03:04:05Z'));
    const [r] = await readUnfinishedRuns(cache.dir);
    expect(r).toMatchObject({ state: 'running', startedMs: Date.parse('2026-01-02T03:04:05Z') });
    expect(r.record).toEqual({ ...thisProcess(), experiment: 'kd-mnist', startedAt: '2026-01-02T03:04:05.000Z' });
    expect(JSON.parse(await readFile(r.path, 'utf8')).experiment).toBe('kd-mnist');
    await run.finish();
    expect(await readUnfinishedRuns(cache.dir)).toEqual([]);
  });

  it('a record whose process is gone is a failed run; publishing a later run of the same experiment retires it', async () => {
    const t = Date.now() - 3600_000;
    await failedRecord('kd-mnist', t);
    const other = await failedRecord('other', t + 1);
    expect((await readUnfinishedRuns(cache.dir)).map((r) => [r.record.experiment, r.state])).toEqual([
      ['kd-mnist', 'failed'],
      ['other', 'failed'],
    ]);
    const live = await beginRun(cache, 'kd-mnist');
    const concurrent = await beginRun(cache, 'kd-mnist'); // another run of it, still going
    await live.finish();
    const left = await readUnfinishedRuns(cache.dir);
    expect(left.map((r) => [r.record.experiment, r.state])).toEqual([
      ['other', 'failed'],
      ['kd-mnist', 'running'],
    ]);
    expect(left[0].path).toBe(other);
    await concurrent.finish();
  });

  it('skips records it cannot read and files kdq did not name', async () => {
    await beginRun(cache, 'kd-mnist');
    const dir = join(cache.dir, UNFINISHED_FOLDER);
    await writeFile(join(dir, '1~2~0123abcd.json'), 'not json');
    await writeFile(join(dir, 'notes.txt'), 'x');
    expect((await readUnfinishedRuns(cache.dir)).map((r) => r.record.experiment)).toEqual(['kd-mnist']);
    expect((await readdir(dir)).length).toBe(3);
  });
});
