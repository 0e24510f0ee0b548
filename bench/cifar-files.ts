/**
 * CIFAR-10-sized data for the memory benchmarks, written in the binary format a record at a time:
 * a label byte then 3,072 pixel bytes from a cheap hash of (example, index), 1,000 records per write.
 */
import { mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';

export const PIXELS = 3072;

/** Writes records `first .. first + count - 1` to `path` (`withLabel` false: pixels only, for IDX bodies). */
export async function writeRecords(path: string, first: number, count: number, withLabel: boolean): Promise<void> {
  const fh = await open(path, 'w');
  try {
    const rs = PIXELS + (withLabel ? 1 : 0);
    for (let a = 0; a < count; a += 1000) {
      const n = Math.min(1000, count - a);
      const buf = Buffer.alloc(n * rs);
      for (let r = 0; r < n; r++) {
        const ex = first + a + r;
        let at = r * rs;
        if (withLabel) buf[at++] = ex % 10;
        for (let p = 0; p < PIXELS; p++) buf[at + p] = (ex * 2654435761 + p * 40503) >>> 24;
      }
      await fh.write(buf);
    }
  } finally {
    await fh.close();
  }
}

/** A cifar-10-batches-bin folder in `dir`: 5 x `perBatch` training records and `test` test records. */
export async function writeCifar10Set(dir: string, perBatch: number, test: number): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (let b = 0; b < 5; b++) await writeRecords(join(dir, `data_batch_${b + 1}.bin`), b * perBatch, perBatch, true);
  await writeRecords(join(dir, 'test_batch.bin'), 5 * perBatch, test, true);
}
