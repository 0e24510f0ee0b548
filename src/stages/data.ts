/**
 * `data`: stands for the dataset in every key. Its fingerprint is the content hash of the source
 * (remembered digests, so it costs a stat per file); its output is a summary (data.json: shapes,
 * classes, the preprocessing with its `normalize: auto` statistics). The examples stay in memory
 * (StageServices.datasets), never in the cache, except an image folder's: decoding is slow, so
 * its decoded images are part of this stage's entry and later stages read them from there.
 */
import { hashDataSource } from '../data/dataset.ts';
import { writeDecoded } from '../data/decoded-store.ts';
import type { Preprocessing } from '../data/preprocess.ts';
import { writeJson, type StageServices } from './context.ts';
import type { KdStageDefinition } from './types.ts';

export const DATA_INFO = 'data.json';

/** data.json. Fields after `numClasses` were added with issue 18: an older entry lacks them. */
export interface DataStageInfo {
  source: string;
  train: number;
  test: number;
  validation: number;
  sha256: string;
  /** Images only (absent for table rows). */
  height?: number;
  width?: number;
  channels?: number;
  numClasses: number;
  /** [H, W, C] or [F]. */
  inputShape?: number[];
  dtype?: string;
  classNames?: string[];
  featureNames?: string[];
  preprocessing?: Preprocessing;
}

export function dataStage(services: StageServices): KdStageDefinition<'data'> {
  const hash = (config: Parameters<typeof services.dataset>[0]['config']) => {
    const { seed: _seed, testSplitSeed, ...cfg } = config;
    return hashDataSource(cfg, { baseDir: services.env.baseDir, cacheDir: services.env.dataCacheDir, splitSeed: testSplitSeed });
  };
  return {
    kind: 'data',
    version: 1,
    cacheable: true,
    async fingerprint(config) {
      return { data: await hash(config) };
    },
    async run(ctx) {
      const ds = await services.dataset({ config: ctx.config }, ctx.config.seed ?? 0);
      const image = ds.inputShape.length === 3 ? { height: ds.inputShape[0], width: ds.inputShape[1], channels: ds.inputShape[2] } : {};
      const info: DataStageInfo = {
        source: ctx.config.source,
        train: ds.train.count,
        test: ds.test.count,
        validation: ds.validation?.count ?? 0,
        sha256: ds.sha256,
        ...image,
        numClasses: ds.numClasses,
        inputShape: ds.inputShape,
        dtype: ds.dtype,
        ...(ds.classNames ? { classNames: ds.classNames } : {}),
        ...(ds.featureNames ? { featureNames: ds.featureNames } : {}),
        preprocessing: ds.preprocessing,
      };
      await writeJson(ctx.outDir, DATA_INFO, info);
      // The decoded images, under the key the folder reader looks them up by (the fingerprint).
      if (ds.decoded) await writeDecoded(ctx.outDir, await hash(ctx.config), ds.decoded);
    },
  };
}
