import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cifarFilesInDir, probeCifar, readCifar } from '../../../src/data/formats/cifar.ts';
import { dataError, tempDir } from './fixtures.ts';
import { CIFAR10_NAMES, cifarPixel, cifarRecords, coarseOf, writeCifar10, writeCifar100 } from './cifar-fixtures.ts';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir('cifar')));
afterEach(() => cleanup());

/** Checks every pixel of example i of `x` (NHWC) against the fixture's pixel of example n. */
function expectExample(x: Uint8Array, i: number, n: number): void {
  for (let h = 0; h < 32; h++) {
    for (let w = 0; w < 32; w++) {
      for (let c = 0; c < 3; c++) {
        const got = x[i * 3072 + (h * 32 + w) * 3 + c];
        if (got !== cifarPixel(n, h, w, c)) throw new Error(`example ${i} (h ${h}, w ${w}, c ${c}): ${got} != ${cifarPixel(n, h, w, c)}`);
      }
    }
  }
}

describe('cifar10', () => {
  it('reads the five training batches in order and the test batch, planar records to NHWC, with the class names', async () => {
    await writeCifar10(dir, 3, 4);
    const files = await cifarFilesInDir(dir, 'cifar10');
    const info = await probeCifar({ kind: 'cifar10', files });
    expect(info).toEqual({
      format: 'cifar10',
      inputShape: [32, 32, 3],
      dtype: 'uint8',
      numClasses: 10,
      classNames: CIFAR10_NAMES,
      featureNames: null,
      trainCount: 15,
      testCount: 4,
    });
    const data = await readCifar({ kind: 'cifar10', files });
    expect(data.train.x).toBeInstanceOf(Uint8Array);
    expect(data.train.x.length).toBe(15 * 3072);
    for (let n = 0; n < 15; n++) expectExample(data.train.x as Uint8Array, n, n);
    for (let i = 0; i < 4; i++) expectExample(data.test.x as Uint8Array, i, 1000 + i);
    expect(Array.from(data.train.y)).toEqual(Array.from({ length: 15 }, (_, n) => n % 10));
    expect(Array.from(data.test.y)).toEqual([0, 3, 6, 9]);
  });

  it('reads more records than one chunk', async () => {
    await writeCifar10(dir, 1, 1100);
    const data = await readCifar({ kind: 'cifar10', files: await cifarFilesInDir(dir, 'cifar10') });
    expect(data.testCount).toBe(1100);
    expectExample(data.test.x as Uint8Array, 1099, 2099);
    expect(data.test.y[1099]).toBe((2099 * 3) % 10);
  });

  it('works without batches.meta.txt (no class names)', async () => {
    await writeCifar10(dir, 1, 1);
    await rm(join(dir, 'batches.meta.txt'));
    expect((await probeCifar({ kind: 'cifar10', files: await cifarFilesInDir(dir, 'cifar10') })).classNames).toBeNull();
  });

  it('rejects a folder without the binary files, naming them', async () => {
    await writeCifar10(dir, 1, 1);
    await rm(join(dir, 'data_batch_3.bin'));
    await rm(join(dir, 'test_batch.bin'));
    expect(await dataError(cifarFilesInDir(dir, 'cifar10'))).toBe(
      `'${dir}': the cifar10 folder lacks data_batch_3.bin, test_batch.bin; point dir at the unpacked cifar-10-binary.tar.gz ` +
        '(the folder holding data_batch_1.bin, data_batch_2.bin, data_batch_3.bin, data_batch_4.bin, data_batch_5.bin, test_batch.bin)',
    );
  });

  it('rejects a truncated file, naming the record cut short', async () => {
    await writeCifar10(dir, 3, 2);
    await truncate(join(dir, 'data_batch_2.bin'), 3 * 3073 - 10);
    const files = await cifarFilesInDir(dir, 'cifar10');
    // One at a time: a second promise made up front can reject before anything awaits it.
    for (const start of [() => probeCifar({ kind: 'cifar10', files }), () => readCifar({ kind: 'cifar10', files })]) {
      expect(await dataError(start())).toContain(
        `'${join(dir, 'data_batch_2.bin')}' at record 2 (byte 6146): the file is 9,209 bytes, not a whole number of 3,073-byte cifar10 records`,
      );
    }
  });

  it('says so when CIFAR-100 files are read as CIFAR-10', async () => {
    await writeCifar10(dir, 1, 1);
    await writeFile(
      join(dir, 'test_batch.bin'),
      cifarRecords(0, 3, () => [1, 2]),
    );
    expect(await dataError(probeCifar({ kind: 'cifar10', files: await cifarFilesInDir(dir, 'cifar10') }))).toContain(
      'record 3 is cut short (it is a whole number of cifar100 records: is this cifar100 data?)',
    );
  });

  it('rejects a label out of range, naming the record and byte', async () => {
    await writeCifar10(dir, 2, 2);
    await writeFile(
      join(dir, 'data_batch_4.bin'),
      cifarRecords(0, 2, (n) => [n === 1 ? 10 : 0]),
    );
    const msg = await dataError(readCifar({ kind: 'cifar10', files: await cifarFilesInDir(dir, 'cifar10') }));
    expect(msg).toContain(`'${join(dir, 'data_batch_4.bin')}' at record 1 (byte 3073): class 10, expected 0..9 (cifar10)`);
  });

  it('rejects a names file with the wrong number of names', async () => {
    await writeCifar10(dir, 1, 1);
    await writeFile(join(dir, 'batches.meta.txt'), 'cat\ndog\n');
    expect(await dataError(probeCifar({ kind: 'cifar10', files: await cifarFilesInDir(dir, 'cifar10') }))).toContain(
      `'${join(dir, 'batches.meta.txt')}' line 3: found 2 class names, expected 10 (one per line)`,
    );
  });
});

describe('cifar100', () => {
  it('reads fine labels (100 classes) by default and coarse labels (20) on request', async () => {
    await writeCifar100(dir, 250, 30);
    const fine = await readCifar({ kind: 'cifar100', files: await cifarFilesInDir(dir, 'cifar100') });
    expect([fine.numClasses, fine.trainCount, fine.testCount]).toEqual([100, 250, 30]);
    expect(fine.classNames?.[99]).toBe('fine_99');
    expect(Array.from(fine.train.y.subarray(98, 102))).toEqual([98, 99, 0, 1]);
    expectExample(fine.train.x as Uint8Array, 249, 249);
    expectExample(fine.test.x as Uint8Array, 0, 5000);

    const files = await cifarFilesInDir(dir, 'cifar100');
    const coarse = await readCifar({ kind: 'cifar100', files, labels: 'coarse' });
    expect(coarse.numClasses).toBe(20);
    expect(coarse.classNames).toEqual(Array.from({ length: 20 }, (_, i) => `coarse_${i}`));
    expect(Array.from(coarse.train.y.subarray(95, 105))).toEqual([95, 96, 97, 98, 99, 0, 1, 2, 3, 4].map(coarseOf));
    expect(Buffer.from(coarse.train.x).equals(Buffer.from(fine.train.x))).toBe(true);
  });

  it('rejects a fine label past 99 and a coarse label past 19', async () => {
    await writeCifar100(dir, 3, 3);
    await writeFile(
      join(dir, 'test.bin'),
      cifarRecords(0, 3, (n) => (n === 2 ? [25, 100] : [0, 0])),
    );
    const files = await cifarFilesInDir(dir, 'cifar100');
    expect(await dataError(readCifar({ kind: 'cifar100', files }))).toContain(
      'at record 2 (byte 6149): fine label 100, expected 0..99 (cifar100, labels: fine)',
    );
    expect(await dataError(readCifar({ kind: 'cifar100', files, labels: 'coarse' }))).toContain(
      'at record 2 (byte 6148): coarse label 25, expected 0..19 (cifar100, labels: coarse)',
    );
  });
});
