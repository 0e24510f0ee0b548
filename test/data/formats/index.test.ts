import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { DATA_FORMATS } from '../../../src/names.ts';
import { probeData, readData } from '../../../src/data/formats/index.ts';

const ROOT = join(import.meta.dirname, '..', '..', '..');

describe('format dispatch', () => {
  it('routes each tagged option set to its reader', async () => {
    const npz = await probeData({ format: 'npz', file: join(ROOT, 'test', 'fixtures', 'npz', 'grey-8x8-5class.npz') });
    expect([npz.format, npz.numClasses]).toEqual(['npz', 5]);
    const csv = await readData({ format: 'csv', train: join(ROOT, 'data', 'wine', 'wine.csv'), testSplit: 0.2 });
    expect([csv.format, csv.inputShape, csv.trainCount + csv.testCount]).toEqual(['csv', [13], 178]);
    expect(DATA_FORMATS).toEqual(['idx', 'cifar10', 'cifar100', 'folder', 'npz', 'csv']);
  });
});
