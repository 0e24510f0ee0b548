/** CIFAR binary files for the tests, written from the format's description (data-formats.md). */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Pixel (h, w, c) of example n: recognisable per example, position and channel. */
export function cifarPixel(n: number, h: number, w: number, c: number): number {
  return (n * 31 + h * 7 + w * 3 + c * 101) % 256;
}

/** Records for examples `first .. first + count - 1`: label byte(s), then the red, green and blue planes. */
export function cifarRecords(first: number, count: number, labels: (n: number) => number[]): Buffer {
  const parts: Buffer[] = [];
  for (let n = first; n < first + count; n++) {
    const rec = Buffer.alloc(labels(n).length + 3072);
    labels(n).forEach((l, i) => (rec[i] = l));
    let at = labels(n).length;
    for (let c = 0; c < 3; c++) for (let h = 0; h < 32; h++) for (let w = 0; w < 32; w++) rec[at++] = cifarPixel(n, h, w, c);
    parts.push(rec);
  }
  return Buffer.concat(parts);
}

export const CIFAR10_NAMES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

/** A CIFAR-10 folder with `perBatch` records in each of the five training files and `test` in the test file. */
export async function writeCifar10(dir: string, perBatch: number, test: number): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (let b = 0; b < 5; b++)
    await writeFile(
      join(dir, `data_batch_${b + 1}.bin`),
      cifarRecords(b * perBatch, perBatch, (n) => [n % 10]),
    );
  await writeFile(
    join(dir, 'test_batch.bin'),
    cifarRecords(1000, test, (n) => [(n * 3) % 10]),
  );
  // The real file ends with blank lines.
  await writeFile(join(dir, 'batches.meta.txt'), CIFAR10_NAMES.join('\n') + '\n\n');
}

/** Coarse label of fine class f in these fixtures. */
export const coarseOf = (f: number) => f % 20;

/** A CIFAR-100 folder: `train` and `test` records, fine label n mod 100, with both label-name files. */
export async function writeCifar100(dir: string, train: number, test: number): Promise<void> {
  await mkdir(dir, { recursive: true });
  const labels = (n: number) => [coarseOf(n % 100), n % 100];
  await writeFile(join(dir, 'train.bin'), cifarRecords(0, train, labels));
  await writeFile(join(dir, 'test.bin'), cifarRecords(5000, test, labels));
  await writeFile(join(dir, 'fine_label_names.txt'), Array.from({ length: 100 }, (_, i) => `fine_${i}`).join('\n') + '\n');
  await writeFile(join(dir, 'coarse_label_names.txt'), Array.from({ length: 20 }, (_, i) => `coarse_${i}`).join('\r\n') + '\r\n');
}
