import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { kernelThreads, setKernelThreads } from '../src/backend/intra-op/threads.ts';
import { openWorkspace, resolveCacheDir, resolveRunsDir } from '../src/workspace.ts';

describe('where a workspace lives', () => {
  it('runs folder: --runs-dir, else ./runs', () => {
    expect(resolveRunsDir({})).toBe(resolve('runs'));
    expect(resolveRunsDir({ runsDir: '/data/runs' })).toBe('/data/runs');
  });

  it('cache: --cache-dir, else $KDQ_CACHE_DIR, else <runs>/.cache; an empty KDQ_CACHE_DIR counts as unset', () => {
    expect(resolveCacheDir({ cacheDir: '/c' }, { KDQ_CACHE_DIR: '/env' })).toBe('/c');
    expect(resolveCacheDir({}, { KDQ_CACHE_DIR: '/big/disk/kdq' })).toBe('/big/disk/kdq');
    expect(resolveCacheDir({ runsDir: '/r' }, {})).toBe(join('/r', '.cache'));
    expect(resolveCacheDir({ runsDir: '/r' }, { KDQ_CACHE_DIR: '' })).toBe(join('/r', '.cache'));
  });

  it('keeps downloads under the runs folder and computes keys for the backend it was opened with', () => {
    const ws = openWorkspace({ runsDir: '/r', cacheDir: '/c', backend: 'cpu' });
    expect([ws.runsDir, ws.cacheDir, ws.dataCacheDir, ws.cache.dir]).toEqual(['/r', '/c', join('/r', '.data'), '/c']);
    expect(ws.keyEnv).toEqual({ backend: 'cpu', tfjs: '4.22.0' });
  });

  it('sets the kernel threads of the stages it runs (api.run and api.sweep open one), and leaves them when not asked', () => {
    try {
      openWorkspace({ runsDir: '/r', backend: 'cpu', kernelThreads: 2 });
      expect(kernelThreads()).toBe(2);
      openWorkspace({ runsDir: '/r', backend: 'cpu' });
      expect(kernelThreads()).toBe(2);
      openWorkspace({ runsDir: '/r', backend: 'cpu', kernelThreads: 1 });
      expect(kernelThreads()).toBe(1);
    } finally {
      setKernelThreads(1);
    }
  });
});
