/**
 * What `kdq validate` learns about the data without decoding it: the input shape, the classes
 * and the split sizes, from file headers, label files, a folder listing or the first CSV rows
 * (each format's `probe`). A download not fetched yet is never fetched here: CIFAR's shape and
 * classes are known from its name; a download of IDX files is checked when `kdq run` fetches it.
 */
import type { DataConfig } from '../config/types.ts';
import { KdqError } from '../errors.ts';
import { probeData } from './formats/index.ts';
import type { DataInfo } from './formats/types.ts';
import { SOURCES, type KnownData, type SourceContext } from './sources.ts';

export type Probe =
  /** From the files themselves. */
  | { kind: 'read'; info: DataInfo }
  /** A download not fetched yet whose shape and classes the config says. */
  | { kind: 'known'; known: KnownData; note: string }
  /** A download not fetched yet: nothing known until `kdq run` fetches it. */
  | { kind: 'unknown'; note: string };

/** Probes the configured source. Bad files throw E_DATA, as reading them would. */
export async function probeDataSource(cfg: DataConfig, ctx: SourceContext): Promise<Probe> {
  const source = SOURCES[cfg.source];
  const options = await source.options(cfg, ctx, false);
  if (options !== null) return { kind: 'read', info: await probeData(options) };
  const known = source.known(cfg);
  const what = `data.source ${cfg.source}: not downloaded yet`;
  if (known)
    return {
      kind: 'known',
      known,
      note: `${what}; the layers were checked against its known shape [${known.inputShape.join(', ')}] and ${known.numClasses} classes, the files are checked when kdq run downloads them`,
    };
  if (cfg.source !== 'download') throw new KdqError('E_INTERNAL', `data source ${cfg.source} found no files and knows no shape`);
  return { kind: 'unknown', note: `${what}; the layers are checked against its shape and classes when kdq run downloads it` };
}

/** One line saying what the data is (`input [32, 32, 3] uint8, 10 classes (airplane, ...), ...`), or what could not be checked yet. */
export function describeProbe(p: Probe | undefined): string {
  if (!p) return 'not probed';
  if (p.kind !== 'read') return p.note;
  const i = p.info;
  const names = i.classNames ? ` (${i.classNames.length > 5 ? `${i.classNames.slice(0, 5).join(', ')}, ...` : i.classNames.join(', ')})` : '';
  return `input [${i.inputShape.join(', ')}] ${i.dtype}, ${i.numClasses} classes${names}, ${i.trainCount} training / ${i.testCount} test examples`;
}
