/**
 * A full disk or a read-only folder, injected at the file-system layer (no root or special mount
 * needed): every writer turns the errno into a KdqError that names the path and says the fix, and
 * leaves no temp file, half-written cache entry or empty lock behind.
 */
import { mkdtemp, readdir, rm, writeFile as realWriteFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

/** Which fs/promises function fails next, and with which errno code ('' = none). */
const inject = vi.hoisted(() => ({ fn: '', code: '', match: '' }));

vi.mock('node:fs/promises', async (importOriginal) => {
  const orig = await importOriginal<typeof import('node:fs/promises')>();
  const wrap = <F extends (...args: any[]) => Promise<any>>(name: string, f: F) =>
    (async (...args: Parameters<F>) => {
      if (inject.fn === name && String(args[0]).includes(inject.match)) {
        throw Object.assign(new Error(`${inject.code}: simulated failure, ${name} '${String(args[0])}'`), { code: inject.code, path: String(args[0]) });
      }
      return f(...args);
    }) as F;
  return {
    ...orig,
    writeFile: wrap('writeFile', orig.writeFile),
    mkdir: wrap('mkdir', orig.mkdir),
    open: wrap('open', orig.open),
    rename: wrap('rename', orig.rename),
  };
});

const { ensureWritableDir, GC_ADVICE, writeFileAtomic } = await import('../../src/util/atomic.ts');
const { Cache } = await import('../../src/pipeline/cache.ts');
const { acquireLock } = await import('../../src/pipeline/lock.ts');
const { KdqError } = await import('../../src/errors.ts');

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kdq-storage-'));
});
afterEach(async () => {
  inject.fn = '';
  await rm(dir, { recursive: true, force: true });
});

async function rejection(p: Promise<unknown>): Promise<InstanceType<typeof KdqError>> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(KdqError);
  return e as InstanceType<typeof KdqError>;
}

const KEY = 'ab'.repeat(32);

describe('full disk (ENOSPC)', () => {
  it('writeFileAtomic: E_IO naming the file and the fix; no temp file left beside it', async () => {
    Object.assign(inject, { fn: 'writeFile', code: 'ENOSPC', match: dir });
    const e = await rejection(writeFileAtomic(join(dir, 'metrics.json'), '{}'));
    expect(e.code).toBe('E_IO');
    expect(e.exitCode).toBe(1);
    expect(e.message).toBe(
      `cannot write ${join(dir, 'metrics.json')}: the disk is full (ENOSPC): free some space; \`kdq cache gc\` deletes the unfinished run folders of dead kdq processes and the cache entries no run folder uses, and keeps those of failed and running runs`,
    );
    expect(await readdir(dir)).toEqual([]);
  });

  it('Cache.commit: E_CACHE with the fix, and the key stays a clean miss', async () => {
    const cache = new Cache(join(dir, 'cache'));
    const tmp = await cache.tmpDir(KEY);
    await realWriteFile(join(tmp, 'out.bin'), 'x');
    Object.assign(inject, { fn: 'writeFile', code: 'ENOSPC', match: 'manifest' });
    const e = await rejection(cache.commit(KEY, tmp, {}));
    expect(e.code).toBe('E_CACHE');
    expect(e.message).toContain(`cannot write cache entry ${cache.entryDir(KEY)}: the disk is full (ENOSPC): free some space; ${GC_ADVICE}`);
    inject.fn = '';
    expect(await cache.get(KEY)).toBeNull();
    await cache.discard(tmp);
    expect(await readdir(join(dir, 'cache', 'tmp'))).toEqual([]);
  });

  it('a lock file that cannot be created: E_CACHE with the fix, and no lock file left', async () => {
    const path = join(dir, 'locks', `${KEY}.lock`);
    Object.assign(inject, { fn: 'open', code: 'ENOSPC', match: '.lock' });
    const e = await rejection(acquireLock(path));
    expect(e.code).toBe('E_CACHE');
    expect(e.message).toBe(`cannot create lock file ${path}: the disk is full (ENOSPC): free some space; ${GC_ADVICE}`);
    expect(await readdir(join(dir, 'locks'))).toEqual([]);
  });
});

describe('read-only folder (EROFS, EACCES)', () => {
  it('ensureWritableDir: the folder cannot be created', async () => {
    Object.assign(inject, { fn: 'mkdir', code: 'EROFS', match: dir });
    const e = await rejection(ensureWritableDir(join(dir, 'runs')));
    expect(e.code).toBe('E_IO');
    expect(e.message).toBe(
      `cannot create folder ${join(dir, 'runs')}: permission denied (EROFS: read-only folder?): choose a writable folder with --runs-dir / --cache-dir`,
    );
  });

  it('ensureWritableDir: the folder exists but no file can be written in it; nothing is left in it', async () => {
    Object.assign(inject, { fn: 'writeFile', code: 'EACCES', match: dir });
    const e = await rejection(ensureWritableDir(dir));
    expect(e.message).toBe(
      `cannot write to folder ${dir}: permission denied (EACCES: read-only folder?): choose a writable folder with --runs-dir / --cache-dir`,
    );
    inject.fn = '';
    expect(await readdir(dir)).toEqual([]);
  });

  it('the lock folder cannot be created: E_CACHE, not a bare errno', async () => {
    Object.assign(inject, { fn: 'mkdir', code: 'EROFS', match: 'locks' });
    const e = await rejection(acquireLock(join(dir, 'locks', `${KEY}.lock`)));
    expect(e.code).toBe('E_CACHE');
    expect(e.message).toContain(`cannot create the lock folder ${join(dir, 'locks')}: permission denied (EROFS`);
  });

  it('ensureWritableDir succeeds on a writable folder and leaves it empty', async () => {
    await ensureWritableDir(join(dir, 'a', 'b'));
    expect(await readdir(join(dir, 'a', 'b'))).toEqual([]);
  });
});
