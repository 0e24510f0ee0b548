import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { acquireLock, isProcessAlive, staleReason } from '../../src/pipeline/lock.ts';
import { bootId, processStartTicks, thisProcess } from '../../src/util/process-identity.ts';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'kdq-lock-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/** The pid of a process that has exited (and was reaped), so it is surely dead. */
function deadPid(): number {
  return Number(execFileSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).toString());
}

describe('acquireLock', () => {
  it('writes pid, host and time with O_EXCL and deletes the file on release', async () => {
    const path = join(root, 'locks', 'k.lock');
    const lock = await acquireLock(path);
    const info = JSON.parse(await readFile(path, 'utf8'));
    expect(info).toMatchObject({ pid: process.pid, host: hostname(), token: lock.info.token });
    expect(Date.parse(info.time)).toBeGreaterThan(Date.now() - 60_000);
    await lock.release();
    await expect(stat(path)).rejects.toThrow(/ENOENT/);
  });

  it('makes a second taker wait until the first releases', async () => {
    const path = join(root, 'k.lock');
    const first = await acquireLock(path);
    let got = false;
    let told: (h: unknown) => void = () => undefined;
    const waited = new Promise((r) => (told = r));
    const second = acquireLock(path, { onWait: (h) => told(h) }).then((l) => {
      got = true;
      return l;
    });
    // onWait fires once the second taker has found the lock busy and is backing off.
    expect(await waited).toEqual(expect.objectContaining({ pid: process.pid, token: first.info.token }));
    await new Promise((r) => setTimeout(r, 100));
    expect(got).toBe(false);
    await first.release();
    const l2 = await second;
    expect(got).toBe(true);
    expect(JSON.parse(await readFile(path, 'utf8')).token).toBe(l2.info.token);
    await l2.release();
  });

  it('recovers a stale lock whose process is dead', async () => {
    const path = join(root, 'k.lock');
    const pid = deadPid();
    expect(isProcessAlive(pid)).toBe(false);
    await writeFile(path, JSON.stringify({ pid, host: hostname(), time: new Date().toISOString(), token: 'old' }));
    // Not stale by age (default 10 min): only the dead pid can free it before the timeout.
    const lock = await acquireLock(path, { timeoutMs: 5000 });
    expect(lock.info.token).not.toBe('old');
    await lock.release();
  });

  it('recovers at once a lock whose pid now belongs to an unrelated live process (PID reuse) or predates a reboot', async (ctx) => {
    if (processStartTicks(process.pid) === undefined || bootId() === undefined) return ctx.skip(); // no /proc here
    // A live process that is not the lock's holder: same pid, but it started at another time.
    const other = spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      const pid = other.pid!;
      const start = processStartTicks(pid)!;
      const path = join(root, 'k.lock');
      const fresh = { pid, host: hostname(), boot: bootId(), time: new Date().toISOString(), token: 'old' };
      // Its real stamp is a live holder: waited for.
      await writeFile(path, JSON.stringify({ ...fresh, start }));
      await expect(acquireLock(path, { timeoutMs: 300 })).rejects.toThrow(/timed out/);
      // The same pid with another start time: the holder died and the pid was reused.
      await writeFile(path, JSON.stringify({ ...fresh, start: start - 1 }));
      expect(staleReason({ ...fresh, start: start - 1 }, Date.now(), 600_000)).toBe(`its process ${pid} is gone`);
      const t0 = Date.now();
      const lock = await acquireLock(path, { timeoutMs: 5000 });
      expect(Date.now() - t0).toBeLessThan(5000);
      expect(lock.info.token).not.toBe('old');
      await lock.release();
      // Written before the last boot: gone whatever runs under that pid now.
      await writeFile(path, JSON.stringify({ ...fresh, start, boot: 'another-boot' }));
      await (await acquireLock(path, { timeoutMs: 5000 })).release();
    } finally {
      other.kill();
    }
  });

  it('records its holder with the boot id and process start time', async () => {
    const path = join(root, 'k.lock');
    const lock = await acquireLock(path);
    expect(JSON.parse(await readFile(path, 'utf8'))).toMatchObject(thisProcess());
    await lock.release();
  });

  it('recovers a lock whose heartbeat is older than staleMs, even with a live pid', async () => {
    const path = join(root, 'k.lock');
    await writeFile(path, JSON.stringify({ pid: process.pid, host: 'elsewhere', time: '2020-01-01T00:00:00Z', token: 'old' }));
    await utimes(path, new Date(Date.now() - 120_000), new Date(Date.now() - 120_000));
    expect(staleReason({ pid: process.pid, host: 'elsewhere', time: '', token: 'old' }, Date.now() - 120_000, 60_000)).toMatch(/heartbeat is 120 s old/);
    const lock = await acquireLock(path, { staleMs: 60_000, timeoutMs: 5000 });
    await lock.release();
  });

  it('keeps a live lock fresh with its heartbeat, and times out a waiter with a useful message', async () => {
    const path = join(root, 'k.lock');
    const lock = await acquireLock(path, { staleMs: 60_000, heartbeatMs: 50 });
    await utimes(path, new Date(Date.now() - 10_000), new Date(Date.now() - 10_000));
    // The heartbeat brings the mtime back to now (polled: timers run late on a loaded machine).
    const deadline = Date.now() + 10_000;
    while (Date.now() - (await stat(path)).mtimeMs > 5000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(Date.now() - (await stat(path)).mtimeMs).toBeLessThan(5000);
    await expect(acquireLock(path, { staleMs: 60_000, timeoutMs: 300 })).rejects.toThrow(
      new RegExp(`timed out after 300 ms waiting for lock .* held by pid ${process.pid}`),
    );
    await lock.release();
  });

  it('does not delete a lock that was taken over by someone else', async () => {
    const path = join(root, 'k.lock');
    const lock = await acquireLock(path);
    await writeFile(path, JSON.stringify({ pid: process.pid, host: hostname(), time: '', token: 'someone-else' }));
    await lock.release();
    expect(JSON.parse(await readFile(path, 'utf8')).token).toBe('someone-else');
  });
});
