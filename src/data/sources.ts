/**
 * One definition per data source of src/names.ts (`Record<DataSource, ...>`, so adding a name
 * there fails to compile until it is defined here). A source turns its `data:` keys into the
 * options of one format reader (src/data/formats/), with paths resolved against the experiment
 * file's folder and downloads fetched, and says what its content hash is made of.
 */
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { DataConfig } from '../config/types.ts';
import { KdqError } from '../errors.ts';
import { IDX_FILES, type DataSource } from '../names.ts';
import { sha256Hex } from '../util/hash.ts';
import { digestFiles } from './file-digest.ts';
import { CIFAR_LAYOUT, cifarFilesInDir, type CifarFiles, type CifarKind } from './formats/cifar.ts';
import { fetchCifar, findCifar } from './formats/cifar-download.ts';
import { folderKeyOf } from './formats/folder.ts';
import type { FormatOptions } from './formats/index.ts';
import { downloadDir, idxContentHash, IDX_SOURCES, isIdxSource, type LocatedFiles, type SourceContext as IdxContext } from './idx-sources.ts';

export interface SourceContext extends IdxContext {
  /** Seed of a `testSplit` (the experiment's seed). */
  splitSeed: number;
}

/** What the config alone says about the data, before any file is there (a download not yet fetched). */
export interface KnownData {
  inputShape: number[];
  numClasses: number;
  classNames: string[] | null;
}

export interface SourceDefinition {
  /**
   * The reader's options, every path resolved. Remote files are fetched (once, into the download
   * cache) when `fetch` is true; otherwise a download not in the cache yet gives null.
   */
  options(cfg: DataConfig, ctx: SourceContext, fetch: boolean): Promise<FormatOptions | null>;
  /**
   * sha256 standing for the data files and the settings that select examples from them, without
   * decoding anything: digests are remembered by size and mtime (a stat each), downloads are
   * named by their declared digests (no network).
   */
  contentHash(cfg: DataConfig, ctx: SourceContext): Promise<string>;
  /** Shape and classes known from the config alone (CIFAR), or null. */
  known(cfg: DataConfig): KnownData | null;
}

const at = (ctx: SourceContext, p: string) => resolve(ctx.baseDir, p);

/** The four IDX sources read through the IDX reader; their hash is the one of their four digests. */
function idxSource(source: 'mnist' | 'fashion-mnist' | 'idx' | 'download'): SourceDefinition {
  return {
    async options(cfg, ctx, fetch) {
      const located: LocatedFiles | null = await IDX_SOURCES[source].locate(cfg, ctx, fetch);
      if (located === null) return null;
      // The source knows the fix for a missing file (the reader would only say the path).
      for (const k of IDX_FILES) {
        const s = await stat(located.paths[k]).catch(() => null);
        if (!s?.isFile()) throw new KdqError('E_DATA', `${source} ${k} '${located.paths[k]}' ${s ? 'is not a file' : 'does not exist'}; ${located.fix}`);
      }
      return { format: 'idx', ...located.paths, ...(located.numClasses !== null ? { numClasses: located.numClasses } : {}) };
    },
    contentHash: (cfg, ctx) => idxContentHash(source, cfg, ctx),
    known: () => null,
  };
}

/** sha256 of files (by role) and the settings that pick examples from them. */
async function hashFiles(files: [string, string][], settings: Record<string, unknown>, ctx: SourceContext): Promise<string> {
  const digests = await digestFiles(
    files.map(([role, path]) => ({ path, role })),
    ctx.cacheDir,
  );
  return sha256Hex(JSON.stringify({ files: files.map(([role], i) => [role, digests[i].sha256]), settings }));
}

function cifarSource(kind: CifarKind): SourceDefinition {
  const needOne = (cfg: DataConfig) => {
    if ((cfg.dir === undefined) === (cfg.download === undefined)) {
      throw new KdqError(
        'E_CONFIG',
        `data.source is '${kind}': give either data.dir (the unpacked binary version) or data.download, ${cfg.dir === undefined ? 'not neither' : 'not both'}`,
      );
    }
  };
  const files = async (cfg: DataConfig, ctx: SourceContext, fetch: boolean): Promise<CifarFiles | null> => {
    needOne(cfg);
    if (cfg.dir !== undefined) return cifarFilesInDir(at(ctx, cfg.dir), kind);
    const dir = downloadDir(cfg, ctx);
    return fetch ? fetchCifar(kind, cfg.download!, dir) : findCifar(kind, cfg.download!, dir);
  };
  const labels = (cfg: DataConfig) => (kind === 'cifar100' ? (cfg.labels ?? 'fine') : undefined);
  return {
    async options(cfg, ctx, fetch) {
      const f = await files(cfg, ctx, fetch);
      if (f === null) return null;
      return kind === 'cifar10' ? { format: 'cifar10', files: f } : { format: 'cifar100', files: f, labels: labels(cfg) };
    },
    async contentHash(cfg, ctx) {
      needOne(cfg);
      const settings = { source: kind, labels: labels(cfg) ?? null };
      if (cfg.download !== undefined) {
        const d = cfg.download;
        const declared =
          'archive' in d
            ? [['archive', d.archive.sha256]]
            : Object.keys(d.files)
                .sort()
                .map((n) => [n, d.files[n].sha256]);
        return sha256Hex(JSON.stringify({ declared, settings }));
      }
      const f = (await files(cfg, ctx, false)) as CifarFiles;
      const names = Object.entries(f.labelNames).filter((e): e is [string, string] => e[1] !== null);
      const list: [string, string][] = [...f.train.map((p, i) => [CIFAR_LAYOUT[kind].train[i], p] as [string, string]), ['test', f.test], ...names];
      return hashFiles(list, settings, ctx);
    },
    known(cfg) {
      const classes = kind === 'cifar10' ? 10 : cfg.labels === 'coarse' ? 20 : 100;
      return { inputShape: [32, 32, 3], numClasses: classes, classNames: null };
    },
  };
}

const folder: SourceDefinition = {
  async options(cfg, ctx) {
    return {
      format: 'folder',
      train: at(ctx, cfg.train as string),
      ...(cfg.test !== undefined ? { test: at(ctx, cfg.test) } : {}),
      ...(cfg.testSplit !== undefined ? { testSplit: cfg.testSplit, seed: ctx.splitSeed } : {}),
      ...(cfg.imageSize !== undefined ? { imageSize: cfg.imageSize } : {}),
      ...(cfg.channels !== undefined ? { channels: cfg.channels } : {}),
    };
  },
  async contentHash(cfg, ctx) {
    const o = (await folder.options(cfg, ctx, false)) as Extract<FormatOptions, { format: 'folder' }>;
    return (await folderKeyOf(o, ctx.cacheDir)).value;
  },
  known: () => null,
};

const npz: SourceDefinition = {
  async options(cfg, ctx) {
    return { format: 'npz', file: at(ctx, cfg.file as string), ...(cfg.numClasses !== undefined ? { numClasses: cfg.numClasses } : {}) };
  },
  contentHash: (cfg, ctx) => hashFiles([['file', at(ctx, cfg.file as string)]], { numClasses: cfg.numClasses ?? null }, ctx),
  known: () => null,
};

const csv: SourceDefinition = {
  async options(cfg, ctx) {
    return {
      format: 'csv',
      train: at(ctx, cfg.train as string),
      ...(cfg.test !== undefined ? { test: at(ctx, cfg.test) } : {}),
      ...(cfg.testSplit !== undefined ? { testSplit: cfg.testSplit, seed: ctx.splitSeed } : {}),
      ...(cfg.label !== undefined ? { label: cfg.label } : {}),
      ...(cfg.numClasses !== undefined ? { numClasses: cfg.numClasses } : {}),
    };
  },
  contentHash(cfg, ctx) {
    const files: [string, string][] = [
      ['train', at(ctx, cfg.train as string)],
      ...(cfg.test !== undefined ? [['test', at(ctx, cfg.test)] as [string, string]] : []),
    ];
    const settings = {
      label: cfg.label ?? null,
      numClasses: cfg.numClasses ?? null,
      testSplit: cfg.testSplit ?? null,
      splitSeed: cfg.testSplit !== undefined ? ctx.splitSeed : null,
    };
    return hashFiles(files, settings, ctx);
  },
  known: () => null,
};

export const SOURCES: Record<DataSource, SourceDefinition> = {
  mnist: idxSource('mnist'),
  'fashion-mnist': idxSource('fashion-mnist'),
  idx: idxSource('idx'),
  download: idxSource('download'),
  cifar10: cifarSource('cifar10'),
  cifar100: cifarSource('cifar100'),
  folder,
  npz,
  csv,
};

export { isIdxSource };
