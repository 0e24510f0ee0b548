/**
 * What every stage of one kdq process shares: where the experiment file lives, the loaded
 * datasets (in memory, never cached: the content hash stands for them in keys), and where
 * progress goes. Stage outputs themselves only travel through stage folders.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import type { DataConfig } from '../config/types.ts';
import { loadDataset, type Dataset } from '../data/dataset.ts';
import { decodedCacheIn } from '../data/decoded-store.ts';
import { canonicalJson } from '../pipeline/hash.ts';
import { toFloat32, typedBytes } from '../util/bytes.ts';
import type { BackendIdentity } from '../backend/identity.ts';
import type { DataStageConfig } from './types.ts';
import { KdqError } from '../errors.ts';
import { DamagedFileError } from '../pipeline/damaged-file.ts';

export interface ServicesEnv {
  /** Folder of the experiment file: relative data paths resolve against it. */
  baseDir: string;
  /** Folder for downloaded data and the data-hash memo. */
  dataCacheDir: string;
  /** Where training progress is written (stderr in the CLI). */
  progress: Writable;
  /** The backend stages run on; initialised on first use (see StageServices.ensureBackend). */
  backend: BackendIdentity;
}

/**
 * What stage implementations get besides their context: the process-wide dataset store and the
 * backend. Stages reach other stages only through the inputs the planner gave them.
 */
export class StageServices {
  readonly datasets: DatasetStore;
  constructor(
    readonly env: ServicesEnv,
    /** A store to share with other experiments of this process (a worker running many experiments' stages). */
    datasets?: DatasetStore,
  ) {
    this.datasets = datasets ?? new DatasetStore(env);
  }

  private backendReady?: Promise<void>;

  /**
   * Loads tf.js and activates the backend the keys were computed for; stages that compute call
   * this first, so a run whose stages are all cached never loads tf.js.
   */
  ensureBackend(): Promise<void> {
    this.backendReady ??= (async () => {
      const { initBackend } = await import('../backend/index.ts');
      const got = await initBackend(this.env.backend.name);
      if (got.name !== this.env.backend.name || got.tfjs !== this.env.backend.tfjs) {
        throw new KdqError(
          'E_INTERNAL',
          `backend ${got.name} (tf.js ${got.tfjs}) started, but stage keys were computed for ${this.env.backend.name} (tf.js ${this.env.backend.tfjs})`,
        );
      }
    })();
    return this.backendReady;
  }

  /**
   * The dataset a `data` stage describes (`seed` draws the validation split, if any). `dir`, the
   * data stage's output folder, holds the decoded images of an image folder, so stages after it
   * never decode them again.
   */
  dataset(data: { config: DataStageConfig; dir?: string }, seed: number): Promise<Dataset> {
    const { seed: _ignored, testSplitSeed, ...cfg } = data.config;
    return this.datasets.get(cfg, seed, { splitSeed: testSplitSeed ?? 0, dir: data.dir });
  }
}

/** Loads each distinct dataset once per process. */
export class DatasetStore {
  private readonly loaded = new Map<string, Promise<Dataset>>();
  constructor(private readonly env: ServicesEnv) {}

  get(data: DataConfig, seed: number, opts: { splitSeed?: number; dir?: string } = {}): Promise<Dataset> {
    // The seed only matters for the validation split.
    const id = canonicalJson({ data, seed: data.validationSplit > 0 ? seed : 0, splitSeed: opts.splitSeed ?? 0 });
    let p = this.loaded.get(id);
    if (!p) {
      p = loadDataset(data, {
        baseDir: this.env.baseDir,
        seed,
        splitSeed: opts.splitSeed,
        cacheDir: this.env.dataCacheDir,
        ...(opts.dir !== undefined ? { decodedCache: decodedCacheIn(opts.dir) } : {}),
      });
      this.loaded.set(id, p);
      p.catch(() => this.loaded.delete(id));
    }
    return p;
  }
}

export async function writeJson(dir: string, name: string, value: unknown): Promise<void> {
  await writeFile(join(dir, name), JSON.stringify(value, null, 2) + '\n');
}

/** Reads a JSON file of a stage folder; one that does not parse is a damaged input (the walker heals it). */
export async function readJson<T>(dir: string, name: string): Promise<T> {
  const path = join(dir, name);
  const text = await readFile(path, 'utf8');
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new DamagedFileError(path, `not valid JSON: ${(e as Error).message.replace(/\s+/g, ' ')}`, e);
  }
}

export async function writeFloats(dir: string, name: string, a: Float32Array): Promise<void> {
  await writeFile(join(dir, name), typedBytes(a));
}

export async function readFloats(dir: string, name: string): Promise<Float32Array> {
  return toFloat32(await readFile(join(dir, name)));
}
