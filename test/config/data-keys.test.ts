/**
 * The data keys added with issue 18 and `training.augment` resolve so that an experiment that
 * does not use them, or writes their defaults, has exactly the config (and so the stage keys) it
 * had before: a key enters the resolved config only when written and not its source's default.
 */
import { describe, expect, it } from 'vitest';
import { resolveDefaults } from '../../src/config/defaults.ts';

const nets = { teacher: { layers: [{ type: 'dense', units: 3 }] }, student: { layers: [{ type: 'dense', units: 3 }] } };
const resolve = (data: Record<string, unknown>, training: Record<string, unknown> = {}) =>
  resolveDefaults({ name: 'x', data, ...nets, student: { ...nets.student, training } });

describe('data keys resolve to what changes the data, and nothing else', () => {
  it('mnist without the new keys resolves exactly as before', () => {
    expect(resolve({ source: 'mnist' }).data).toEqual({ source: 'mnist', trainLimit: null, testLimit: null, validationSplit: 0 });
  });

  it('drops a written default: scale 1/255 of byte sources, 1 of csv, normalize none (auto for csv), labels fine', () => {
    expect(resolve({ source: 'mnist', scale: 1 / 255, normalize: 'none' }).data).toEqual(resolve({ source: 'mnist' }).data);
    expect(resolve({ source: 'cifar100', dir: 'c', labels: 'fine', scale: 1 / 255 }).data).toEqual(resolve({ source: 'cifar100', dir: 'c' }).data);
    const csv = { source: 'csv', train: 't.csv', testSplit: 0.2 };
    expect(resolve({ ...csv, scale: 1, normalize: 'auto' }).data).toEqual(resolve(csv).data);
    // Not a default: kept.
    expect(resolve({ ...csv, normalize: 'none' }).data.normalize).toBe('none');
    expect(resolve({ source: 'cifar100', dir: 'c', labels: 'coarse' }).data.labels).toBe('coarse');
    // idx, download and npz hold bytes or floats: their default is known only from the file, so a written scale counts.
    expect(resolve({ source: 'npz', file: 'a.npz', scale: 1 / 255 }).data.scale).toBe(1 / 255);
  });

  it("keeps a source's keys only with that source, and one mean or std as a list of one", () => {
    const d = resolve({ source: 'folder', train: 'p', testSplit: 0.1, imageSize: [8, 6], channels: 1, label: 'x', mean: 0.5, std: [0.2, 0.3, 0.4] }).data;
    expect(d).toEqual({
      source: 'folder',
      train: 'p',
      testSplit: 0.1,
      imageSize: [8, 6],
      channels: 1,
      mean: [0.5],
      std: [0.2, 0.3, 0.4],
      trainLimit: null,
      testLimit: null,
      validationSplit: 0,
    });
    const c = resolve({ source: 'cifar10', download: { archive: { url: 'https://e/a.tar.gz', sha256: 'AB'.repeat(32) } } }).data;
    expect(c.download).toEqual({ archive: { url: 'https://e/a.tar.gz', sha256: 'ab'.repeat(32) } });
    expect(c).not.toHaveProperty('cacheDir');
  });

  it('training.augment enters the config only with an augmentation that is on', () => {
    const none = resolve({ source: 'mnist' }).student.training;
    expect(none).not.toHaveProperty('augment');
    expect(resolve({ source: 'mnist' }, { augment: { crop: 0, flip: false, translate: 0 } }).student.training).toEqual(none);
    expect(resolve({ source: 'mnist' }, { augment: { flip: true, crop: 4 } }).student.training.augment).toEqual({ crop: 4, flip: true });
  });
});
