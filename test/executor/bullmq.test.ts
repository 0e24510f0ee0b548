/**
 * The BullMQ executor against a real redis-server started by this test: a submitter and two
 * `kdq worker` processes share a cache; the worker that takes the teacher is killed mid-stage; the
 * stage is retried by the other worker and the run's metrics.json is byte-identical to a local run.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { execa, execaNode, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/api.ts';
import { checkRedis } from '../../src/executor/redis.ts';

const MICRO = fileURLToPath(new URL('./micro.yaml', import.meta.url));
const KDQ = fileURLToPath(new URL('../../bin/kdq.mjs', import.meta.url));
const HAS_REDIS = spawnSync('redis-server', ['--version']).status === 0;
const SKIP_REASON = 'redis-server is not installed (apt-get install redis-server; .ci/apt-packages lists it)';

let dir: string;
let url: string;
let redis: ResultPromise | undefined;
const workers: ResultPromise[] = [];

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

const quiet = new Writable({ write: (_c, _e, cb) => cb() });

beforeAll(async () => {
  if (!HAS_REDIS) return;
  dir = await mkdtemp(join(tmpdir(), 'kdq-bullmq-'));
  const port = await freePort();
  url = `redis://127.0.0.1:${port}`;
  redis = execa('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { reject: false });
  for (let i = 0; ; i++) {
    try {
      await checkRedis(url, 1000);
      break;
    } catch (e) {
      if (i > 50) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}, 30_000);

afterAll(async () => {
  for (const w of workers) w.kill('SIGKILL');
  redis?.kill('SIGTERM');
  await Promise.allSettled([...workers, ...(redis ? [redis] : [])]);
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe.skipIf(!HAS_REDIS)(`kdq run --executor bullmq (real redis-server${HAS_REDIS ? '' : `: ${SKIP_REASON}`})`, () => {
  it('survives a worker killed mid-stage: the stage is retried elsewhere and metrics.json equals a local run', { timeout: 600_000 }, async () => {
    const local = await run(MICRO, { runsDir: join(dir, 'local'), log: () => undefined, progress: quiet });
    const expected = await readFile(join(local.runDir!, 'metrics.json'));

    const cacheDir = join(dir, 'shared-cache');
    const logs: string[] = ['', ''];
    let killed = -1;
    for (const i of [0, 1]) {
      const w = execaNode(KDQ, ['worker', '--redis', url, '--cache-dir', cacheDir, '--runs-dir', join(dir, 'w'), '--lock-ms', '5000'], {
        reject: false,
        stdout: 'ignore',
        buffer: false,
      });
      w.stderr?.setEncoding('utf8');
      w.stderr?.on('data', (chunk: string) => {
        logs[i] += chunk;
        // Kill the first worker seen training the teacher, while it trains.
        if (killed === -1 && /^teacher@s1: running/m.test(logs[i]!)) {
          killed = i;
          w.kill('SIGKILL');
        }
      });
      workers.push(w);
    }
    const submitter = await execaNode(
      KDQ,
      ['run', MICRO, '--executor', 'bullmq', '--redis', url, '--cache-dir', cacheDir, '--runs-dir', join(dir, 'distributed')],
      { reject: false },
    );
    expect(submitter.exitCode, submitter.stderr).toBe(0);
    expect(killed).not.toBe(-1);
    const survivor = 1 - killed;
    expect(logs[survivor]).toMatch(/^teacher@s1: taken/m);
    expect(logs[survivor]).toMatch(/^teacher@s1: ran in/m);
    expect(submitter.stderr).toContain('bullmq executor: 10 stage(s) to compute through');
    // The walk after the flow found every cacheable stage in the shared cache (its lines end in
    // 'cached'; the workers' lines relayed during the flow name the worker).
    expect(new Set([...submitter.stderr.matchAll(/^(\S+): cached$/gm)].map((m) => m[1])).size).toBe(10);
    expect(submitter.stderr).toMatch(/^report: running \(not cacheable\)$/m);
    const actual = await readFile(join(dir, 'distributed', 'executor-micro', 'latest', 'metrics.json'));
    expect(actual.equals(expected)).toBe(true);
  });
});

// Needs no Redis at all: runs wherever the suite runs.
describe('kdq run --executor bullmq without a Redis', () => {
  it('says which Redis it cannot reach instead of waiting for ever', { timeout: 240_000 }, async () => {
    const port = await freePort();
    const runsDir = await mkdtemp(join(tmpdir(), 'kdq-unreachable-'));
    const r = await execaNode(KDQ, ['run', MICRO, '--executor', 'bullmq', '--redis', `redis://127.0.0.1:${port}`, '--runs-dir', runsDir], { reject: false });
    await rm(runsDir, { recursive: true, force: true });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(`kdq: cannot reach Redis at redis://127.0.0.1:${port}`);
    const w = await execaNode(KDQ, ['worker', '--redis', `redis://127.0.0.1:${port}`], { reject: false });
    expect(w.exitCode).toBe(1);
    expect(w.stderr).toContain('start it (e.g. redis-server --port 6379) or fix --redis');
  });
});
