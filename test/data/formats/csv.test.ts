import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KdqError } from '../../../src/errors.ts';
import { parseCsv } from '../../../src/data/csv-parse.ts';
import { probeCsv, readCsv } from '../../../src/data/formats/csv.ts';
import { dataError, tempDir } from './fixtures.ts';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir('csv')));
afterEach(() => cleanup());

async function file(name: string, text: string): Promise<string> {
  await writeFile(join(dir, name), text);
  return join(dir, name);
}

const WINE = join(import.meta.dirname, '..', '..', '..', 'data', 'wine', 'wine.csv');

describe('parseCsv', () => {
  it('reads RFC 4180: quoted commas, doubled quotes, line breaks in quotes, CRLF, a BOM, blank lines; records keep their first line', () => {
    const text = '\ufeffa,b,c\r\n1,"x, y",3\r\n\r\n4,"say ""hi""","two\nlines"\n5,,\n';
    expect(parseCsv(text, 'f.csv')).toEqual([
      { fields: ['a', 'b', 'c'], line: 1 },
      { fields: ['1', 'x, y', '3'], line: 2 },
      { fields: ['4', 'say "hi"', 'two\nlines'], line: 4 },
      { fields: ['5', '', ''], line: 6 },
    ]);
  });

  it('rejects an unclosed quote (naming the line it opened on) and stray quotes', () => {
    const err = (t: string) => {
      try {
        parseCsv(t, 'f.csv');
      } catch (e) {
        expect(e).toBeInstanceOf(KdqError);
        return (e as Error).message;
      }
      return '';
    };
    expect(err('a,b\n1,"open\n2,3\n')).toContain("'f.csv' line 2: a quoted field is never closed");
    expect(err('a,b\n1,"x"y\n')).toContain(`'f.csv' line 2: a quoted field is followed by "y", expected a comma or the end of the line`);
    expect(err('a,b\n1,x"y\n')).toContain(`'f.csv' line 2: a quote inside the unquoted field "x\\"y"`);
  });
});

describe('csv format', () => {
  it('reads the shipped wine set: 13 features, string labels in sorted order, a seeded stratified testSplit', async () => {
    expect(
      createHash('sha256')
        .update(await readFile(WINE))
        .digest('hex'),
    ).toBe('d3a43c9a2eee3806929dbaddb8f24d0473510d1a7cb37fc15db79796a63854ca');
    const data = await readCsv({ train: WINE, testSplit: 0.2, seed: 7 });
    expect([data.inputShape, data.dtype, data.numClasses, data.classNames]).toEqual([[13], 'float32', 3, ['cultivar_1', 'cultivar_2', 'cultivar_3']]);
    expect(data.featureNames?.[12]).toBe('proline');
    // round(59 * 0.2) + round(71 * 0.2) + round(48 * 0.2) = 12 + 14 + 10
    expect([data.trainCount, data.testCount]).toEqual([142, 36]);
    const count = (y: Int32Array, c: number) => y.filter((v) => v === c).length;
    expect([0, 1, 2].map((c) => count(data.test.y, c))).toEqual([12, 14, 10]);
    // Same seed, same split; another seed, another one.
    const again = await readCsv({ train: WINE, testSplit: 0.2, seed: 7 });
    expect(Array.from(again.test.x)).toEqual(Array.from(data.test.x));
    const other = await readCsv({ train: WINE, testSplit: 0.2, seed: 8 });
    expect(Array.from(other.test.x)).not.toEqual(Array.from(data.test.x));
    // Every row lands in exactly one split: the feature sums agree.
    const sum = (a: ArrayLike<number>) => Array.from(a).reduce((s, v) => s + v, 0);
    const whole = await readCsv({ train: WINE, test: WINE });
    expect(sum(data.train.x) + sum(data.test.x)).toBeCloseTo(sum(whole.train.x), 0);
    const { train: _a, test: _b, ...info } = data;
    expect(await probeCsv({ train: WINE, testSplit: 0.2, seed: 7 })).toEqual(info);
  });

  it('uses whole-number labels as they are, takes the label column by name, and reads a test file', async () => {
    const train = await file('train.csv', 'x1,label,x2\n0.5,0,1e3\n-1,4,2\n.25,2,+3\n7,1,4\n8,3,5\n');
    const test = await file('test.csv', 'x1,label,x2\n1,4,2\n');
    const data = await readCsv({ train, test, label: 'label' });
    expect([data.numClasses, data.classNames, data.featureNames]).toEqual([5, null, ['x1', 'x2']]);
    expect(Array.from(data.train.x.subarray(0, 6))).toEqual([0.5, 1000, -1, 2, 0.25, 3]);
    expect(Array.from(data.train.y)).toEqual([0, 4, 2, 1, 3]);
    expect(Array.from(data.test.y)).toEqual([4]);
    expect((await probeCsv({ train, test, label: 'label', numClasses: 8 })).numClasses).toBe(8);
  });

  it('numbers 2 to 100 string classes in sorted order', async () => {
    for (const k of [2, 5, 100]) {
      const rows = Array.from({ length: 3 * k }, (_, i) => `${i},${i % 7},c${String((i * 37) % k).padStart(3, '0')}`);
      const train = await file(`k${k}.csv`, ['a,b,cls', ...rows].join('\n'));
      const data = await readCsv({ train, testSplit: 0.34 });
      expect(data.numClasses).toBe(k);
      expect(data.classNames).toEqual(Array.from({ length: k }, (_, i) => `c${String(i).padStart(3, '0')}`));
      expect(data.testCount).toBe(k); // one of each class's three rows
    }
  });

  it('rejects ragged rows, non-numeric and empty features, naming file, line and column', async () => {
    const ragged = await file('ragged.csv', 'a,b,y\n1,2,x\n3,4\n');
    expect(await dataError(readCsv({ train: ragged, testSplit: 0.5 }))).toBe(
      `'${ragged}' line 3: the row has 2 fields, expected 3 (the header's columns a, b, y); every row needs one value per column (quote values that hold commas)`,
    );
    const text = await file('text.csv', 'a,b,y\n1,2,x\n3,"n/a",z\n');
    expect(await dataError(probeCsv({ train: text, testSplit: 0.5 }))).toContain(
      `'${text}' line 3, column 'b': 'n/a' is not a number; features must be numbers`,
    );
    const empty = await file('empty-field.csv', 'a,b,y\n1,2,x\n"quoted\nbreak",,z\n');
    expect(await dataError(probeCsv({ train: empty, testSplit: 0.5 }))).toContain(`'${empty}' line 3, column 'a': 'quoted\nbreak' is not a number`);
    const missing = await file('missing.csv', 'a,b,y\n1,2,x\n3,,z\n');
    expect(await dataError(probeCsv({ train: missing, testSplit: 0.5 }))).toContain(
      `'${missing}' line 3, column 'b': an empty field (a missing value); fill in or drop rows`,
    );
  });

  it('rejects empty files, header-only files and bad headers', async () => {
    const empty = await file('empty.csv', '');
    expect(await dataError(probeCsv({ train: empty, testSplit: 0.5 }))).toContain(
      `'${empty}' line 1: the file is empty, expected a header row naming the columns`,
    );
    const head = await file('head.csv', 'a,b,y\r\n');
    expect(await dataError(probeCsv({ train: head, testSplit: 0.5 }))).toContain(`'${head}' line 2: the file has a header but no data rows`);
    const dup = await file('dup.csv', 'a,a,y\n1,2,x\n');
    expect(await dataError(probeCsv({ train: dup, testSplit: 0.5 }))).toContain("the header names column 'a' twice (columns 1 and 2)");
  });

  it('rejects labels out of range and test labels the training file lacks', async () => {
    const train = await file('tr.csv', 'a,y\n1,0\n2,1\n3,2\n');
    const test = await file('te.csv', 'a,y\n1,0\n2,3\n');
    expect(await dataError(readCsv({ train, test }))).toContain(
      `'${test}' line 3, column 'y': label 3, expected 0..2 (3 classes, the largest training label is 2)`,
    );
    const named = await file('named.csv', 'a,y\n1,cat\n2,dog\n');
    const odd = await file('odd.csv', 'a,y\n1,cat\n2,bird\n');
    expect(await dataError(readCsv({ train: named, test: odd }))).toContain(
      `'${odd}' line 3, column 'y': label 'bird' is not a class of the training file (classes: cat, dog)`,
    );
    const other = await file('other.csv', 'b,y\n1,cat\n');
    expect(await dataError(readCsv({ train: named, test: other }))).toContain(`'${other}' line 1: the header (b, y) differs from the training file's (a, y)`);
  });

  it('rejects option mistakes as config errors', async () => {
    const train = await file('tr.csv', 'width,species\n1,a\n2,b\n');
    const err = await readCsv({ train, label: 'specis', testSplit: 0.5 }).catch((e: KdqError) => e);
    expect((err as KdqError).code).toBe('E_CONFIG');
    expect((err as KdqError).message).toBe(`label 'specis' is not a column of '${train}' (did you mean 'species'?); its columns are width, species`);
    expect(((await readCsv({ train }).catch((e: KdqError) => e)) as KdqError).message).toContain('give either test (a second CSV file) or testSplit');
    expect(((await readCsv({ train, testSplit: 1.5 }).catch((e: KdqError) => e)) as KdqError).message).toBe(
      'testSplit is 1.5; give a fraction between 0 and 1, e.g. 0.2',
    );
  });
});
