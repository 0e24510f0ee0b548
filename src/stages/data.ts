/**
 * `data`: stands for the dataset in every key. Its fingerprint is the content hash of the source
 * files (remembered by size and mtime, so it costs a stat); its output is a small summary. The
 * images themselves stay in memory (StageServices.datasets), never in the cache.
 */
import { hashDataSource } from '../data/dataset.ts';
import { writeJson, type StageServices } from './context.ts';
import type { KdStageDefinition } from './types.ts';

export const DATA_INFO = 'data.json';

export interface DataInfo {
  source: string;
  train: number;
  test: number;
  validation: number;
  sha256: string;
  height: number;
  width: number;
  channels: number;
  numClasses: number;
}

export function dataStage(services: StageServices): KdStageDefinition<'data'> {
  return {
    kind: 'data',
    version: 1,
    cacheable: true,
    async fingerprint(config) {
      const { seed: _seed, ...cfg } = config;
      return { data: await hashDataSource(cfg, { baseDir: services.env.baseDir, cacheDir: services.env.dataCacheDir }) };
    },
    async run(ctx) {
      const ds = await services.dataset(ctx.config, ctx.config.seed ?? 0);
      const info: DataInfo = {
        source: ctx.config.source,
        train: ds.trainLabels.length,
        test: ds.testLabels.length,
        validation: ds.validation?.labels.length ?? 0,
        sha256: ds.sha256,
        height: ds.height,
        width: ds.width,
        channels: ds.channels,
        numClasses: ds.numClasses,
      };
      await writeJson(ctx.outDir, DATA_INFO, info);
    },
  };
}
