/**
 * Where a kdq process works: the runs folder, the cache, the data folder, the backend its keys are
 * computed for, and the stage implementations bound to them. The CLI process and every executor
 * worker open one the same way, so they compute the same keys and share the same cache.
 */
import { setKernelThreads } from './backend/intra-op/threads.ts';
import { join, resolve } from 'node:path';
import type { Writable } from 'node:stream';
import { backendIdentity, keyEnv, type BackendIdentity } from './backend/identity.ts';
import type { BackendName } from './names.ts';
import { Cache } from './pipeline/cache.ts';
import type { KeyEnv } from './pipeline/hash.ts';
import type { StageDefinitions } from './pipeline/stage.ts';

export interface Locations {
  runsDir?: string;
  cacheDir?: string;
}

export interface WorkspaceOptions extends Locations {
  /** Default: node when tfjs-node is installed with its addon, else wasm. */
  backend?: BackendName;
  /** Warnings and progress lines (stderr in the CLI). */
  log?: (line: string) => void;
  /** Where training progress bars go (default: nowhere). */
  progress?: Writable;
  /** Threads the kernels of stages run in this process use (`--kernel-threads`); unset leaves them as they are. */
  kernelThreads?: number;
}

export interface Workspace {
  runsDir: string;
  cacheDir: string;
  /** Downloaded data and the data-hash memo: `<runsDir>/.data`. */
  dataCacheDir: string;
  cache: Cache;
  backend: BackendIdentity;
  /** What of the backend enters every stage key. */
  keyEnv: KeyEnv;
  log: (line: string) => void;
  /** Stage implementations for an experiment whose relative paths resolve against `baseDir` (datasets stay loaded per folder). */
  definitions(baseDir: string): Promise<StageDefinitions>;
}

/** `--runs-dir` or `runs`. */
export function resolveRunsDir(o: Locations): string {
  return resolve(o.runsDir ?? 'runs');
}

/** `--cache-dir`, else `$KDQ_CACHE_DIR` when set and not empty, else `<runs>/.cache`. */
export function resolveCacheDir(o: Locations, env: Record<string, string | undefined> = process.env): string {
  const fromEnv = env.KDQ_CACHE_DIR;
  return resolve(o.cacheDir ?? (fromEnv !== undefined && fromEnv !== '' ? fromEnv : join(resolveRunsDir(o), '.cache')));
}

/** Downloaded data and the data-hash memo: `<runs>/.data`. */
export function dataCacheDirOf(o: Pick<Locations, 'runsDir'>): string {
  return join(resolveRunsDir(o), '.data');
}

export function openWorkspace(opts: WorkspaceOptions = {}): Workspace {
  if (opts.kernelThreads !== undefined) setKernelThreads(opts.kernelThreads);
  const runsDir = resolveRunsDir(opts);
  const log = opts.log ?? (() => undefined);
  const backend = backendIdentity(opts.backend);
  const dataCacheDir = dataCacheDirOf({ runsDir });
  const progress = opts.progress ?? sink();
  const byDir = new Map<string, Promise<StageDefinitions>>();
  return {
    runsDir,
    cacheDir: resolveCacheDir(opts),
    dataCacheDir,
    cache: new Cache(resolveCacheDir(opts), { onWarn: (m) => log(`warning: ${m}`) }),
    backend,
    keyEnv: keyEnv(backend),
    log,
    definitions(baseDir) {
      let defs = byDir.get(baseDir);
      if (!defs) {
        // Imported on first use: `kdq validate` and `--help` never load the stage code.
        defs = import('./stages/index.ts').then(({ StageServices, createStageDefinitions }) =>
          createStageDefinitions(new StageServices({ baseDir, dataCacheDir, progress, backend })),
        );
        byDir.set(baseDir, defs);
      }
      return defs;
    },
  };
}

function sink(): Writable {
  return { write: () => true } as unknown as Writable;
}
