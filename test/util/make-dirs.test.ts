/** Creating the runs and cache folders the user names: never a hang, and a clear error for a file in the way. */
import { existsSync } from 'node:fs';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KdqError } from '../../src/errors.ts';
import { makeDirs } from '../../src/util/atomic.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kdq-makedirs-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const rejection = (p: Promise<unknown>) =>
  p.then(
    () => null,
    (e: unknown) => e as KdqError,
  );

describe('makeDirs', () => {
  it('creates missing levels and accepts an existing folder', async () => {
    await makeDirs(join(dir, 'a', 'b', 'c'));
    expect((await stat(join(dir, 'a', 'b', 'c'))).isDirectory()).toBe(true);
    await makeDirs(join(dir, 'a', 'b', 'c'));
  });

  it("a file or device in the way is the user's to fix: exit 2, naming what is there", async () => {
    await writeFile(join(dir, 'file'), 'x');
    const e = (await rejection(makeDirs(join(dir, 'file', 'runs'))))!;
    expect([e.code, e.exitCode]).toEqual(['E_USAGE', 2]);
    expect(e.message).toBe(`cannot use ${join(dir, 'file', 'runs')} as a folder: ${join(dir, 'file')} is a file; choose a folder path`);
    const dev = (await rejection(makeDirs('/dev/null')))!;
    expect([dev.code, dev.message]).toEqual(['E_USAGE', 'cannot use /dev/null as a folder: /dev/null is a character device; choose a folder path']);
  });

  it("a folder that cannot be created under /proc fails at once (Node's recursive mkdir spins there for ever)", { timeout: 10_000 }, async () => {
    if (!existsSync('/proc/self')) return;
    const e = (await rejection(makeDirs('/proc/kdq-cannot-exist/runs')))!;
    expect(e.code).toBe('E_IO');
    expect(e.message).toContain('cannot create folder /proc/kdq-cannot-exist');
  });
});
