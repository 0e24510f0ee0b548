/**
 * One entry to every format reader: `probeData` (cheap: headers, a listing, label files) and
 * `readData` (everything decoded), each taking the format's options tagged with its name. Paths
 * are used as given: the caller resolves them against the experiment file's folder.
 */
import type { DataFormat } from '../../names.ts';
import { probeCifar, readCifar, type CifarOptions } from './cifar.ts';
import { probeCsv, readCsv, type CsvOptions } from './csv.ts';
import { probeFolder, readFolder, type FolderOptions, type ReadFolderDeps } from './folder.ts';
import { probeIdx, readIdxData, type IdxOptions } from './idx.ts';
import { probeNpz, readNpz, type NpzOptions } from './npz.ts';
import type { DataInfo, DecodedData } from './types.ts';

export type FormatOptions =
  | ({ format: 'idx' } & IdxOptions)
  | ({ format: 'cifar10' } & Omit<CifarOptions, 'kind' | 'labels'>)
  | ({ format: 'cifar100' } & Omit<CifarOptions, 'kind'>)
  | ({ format: 'folder' } & FolderOptions)
  | ({ format: 'npz' } & NpzOptions)
  | ({ format: 'csv' } & CsvOptions);

interface Reader<O> {
  probe(o: O): Promise<DataInfo>;
  read(o: O, deps: ReadFolderDeps): Promise<DecodedData>;
}

type OptionsOf<F extends DataFormat> = Omit<Extract<FormatOptions, { format: F }>, 'format'>;

/** One reader per name of DATA_FORMATS: a name without a reader does not compile. */
const READERS: { [F in DataFormat]: Reader<OptionsOf<F>> } = {
  idx: { probe: probeIdx, read: readIdxData },
  cifar10: { probe: (o) => probeCifar({ ...o, kind: 'cifar10' }), read: (o) => readCifar({ ...o, kind: 'cifar10' }) },
  cifar100: { probe: (o) => probeCifar({ ...o, kind: 'cifar100' }), read: (o) => readCifar({ ...o, kind: 'cifar100' }) },
  folder: { probe: probeFolder, read: readFolder },
  npz: { probe: probeNpz, read: readNpz },
  csv: { probe: probeCsv, read: readCsv },
};

function reader(o: FormatOptions): Reader<FormatOptions> {
  return READERS[o.format] as unknown as Reader<FormatOptions>;
}

/** Shape, class count (and names) and example counts, without decoding the examples. */
export function probeData(o: FormatOptions): Promise<DataInfo> {
  return reader(o).probe(o);
}

/** Both splits decoded; `deps` reaches the folder reader (decoded-data cache, digest memo). */
export function readData(o: FormatOptions, deps: ReadFolderDeps = {}): Promise<DecodedData> {
  return reader(o).read(o, deps);
}
