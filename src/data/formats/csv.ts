/**
 * Tabular data in CSV files (RFC 4180, a header row): numeric feature columns and one label column
 * (named by `label`, default the last). Labels that are all whole numbers 0, 1, 2, ... are class
 * indices as they are; any other labels are class names, numbered in sorted order. Examples are
 * float32 rows [N, F]. The test split is a second file with the same header, or a seeded,
 * stratified `testSplit` of the training file.
 *
 * A probe parses the whole file: the class count of string labels needs every row, and tabular
 * files are small (the shipped wine set is 13 KB).
 */
import { readFile } from 'node:fs/promises';
import { KdqError } from '../../errors.ts';
import { suggest } from '../../util/suggest.ts';
import { parseCsv, type CsvRecord } from '../csv-parse.ts';
import { badFile, unreadable } from './bad-file.ts';
import { stratifiedSplit } from './test-split.ts';
import type { DataInfo, DecodedData, Split } from './types.ts';

export interface CsvOptions {
  /** The training file; with `testSplit`, the whole dataset. */
  train: string;
  /** A test file with the same header; or else `testSplit`. */
  test?: string;
  /** Fraction of each class held out for the test split (with `seed`), when there is no test file. */
  testSplit?: number;
  /** Run seed; the split's seed is derived from it. Default 0. */
  seed?: number;
  /** Name of the label column; default the last column. */
  label?: string;
  /** Class count for whole-number labels; default the largest training label + 1. */
  numClasses?: number;
}

const NUMBER = /^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$/;
const CLASS_INDEX = /^\s*\d+\s*$/;

interface Table {
  file: string;
  header: string[];
  rows: CsvRecord[];
}

async function readTable(file: string): Promise<Table> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw unreadable(file, err, 'check the path');
  }
  const records = parseCsv(text, file);
  if (records.length === 0)
    throw badFile(file, { line: 1 }, 'the file is empty, expected a header row naming the columns', 'add a header row, e.g. f1,f2,label');
  const [head, ...rows] = records;
  const header = head.fields.map((f) => f.trim());
  const seen = new Map<string, number>();
  header.forEach((name, c) => {
    if (name === '') throw badFile(file, { line: head.line }, `column ${c + 1} of the header has no name`, 'name every column in the header row');
    if (seen.has(name))
      throw badFile(
        file,
        { line: head.line },
        `the header names column '${name}' twice (columns ${(seen.get(name) as number) + 1} and ${c + 1})`,
        'give every column its own name',
      );
    seen.set(name, c);
  });
  if (header.length < 2)
    throw badFile(file, { line: head.line }, `the header has ${header.length} column, expected features and a label`, 'separate the columns with commas');
  if (rows.length === 0) throw badFile(file, { line: head.line + 1 }, 'the file has a header but no data rows', 'add the examples below the header');
  for (const r of rows) {
    if (r.fields.length !== header.length) {
      throw badFile(
        file,
        { line: r.line },
        `the row has ${r.fields.length} fields, expected ${header.length} (the header's columns ${header.join(', ')})`,
        'every row needs one value per column (quote values that hold commas)',
      );
    }
  }
  return { file, header, rows };
}

function labelColumn(t: Table, label: string | undefined): number {
  if (label === undefined) return t.header.length - 1;
  const c = t.header.indexOf(label);
  if (c < 0) {
    const hint = suggest(label, t.header);
    throw new KdqError(
      'E_CONFIG',
      `label '${label}' is not a column of '${t.file}'${hint ? ` (did you mean '${hint}'?)` : ''}; its columns are ${t.header.join(', ')}`,
    );
  }
  return c;
}

/** The feature values of every row, as float32 [N, F]. */
function features(t: Table, labelCol: number): Float32Array {
  const f = t.header.length - 1;
  const x = new Float32Array(t.rows.length * f);
  t.rows.forEach((r, i) => {
    let k = 0;
    r.fields.forEach((v, c) => {
      if (c === labelCol) return;
      if (!NUMBER.test(v)) {
        const problem = v.trim() === '' ? 'an empty field (a missing value)' : `'${v}' is not a number`;
        const fix =
          v.trim() === ''
            ? 'fill in or drop rows with missing values'
            : 'features must be numbers: encode categories as numbers (one 0/1 column per category) or drop the column';
        throw badFile(t.file, { line: r.line, column: t.header[c] }, problem, fix);
      }
      x[i * f + k++] = Number(v);
    });
  });
  return x;
}

interface Classes {
  numClasses: number;
  names: string[] | null;
  index: (v: string, t: Table, row: CsvRecord) => number;
}

/** Whole-number labels are indices; anything else makes every label a class name, numbered in sorted order. */
function classes(tables: Table[], labelCol: number, numClasses: number | undefined): Classes {
  const all = tables.flatMap((t) => t.rows.map((r) => r.fields[labelCol]));
  const train = tables[0];
  const col = train.header[labelCol];
  if (all.every((v) => CLASS_INDEX.test(v))) {
    let max = 0;
    for (const r of train.rows) max = Math.max(max, Number(r.fields[labelCol]));
    const n = numClasses ?? max + 1;
    const from = numClasses !== undefined ? 'numClasses' : `the largest training label is ${max}`;
    if (n < 2) throw badFile(train.file, null, `every label in column '${col}' is ${max}, but a classifier needs at least 2 classes`, 'check the label column');
    return {
      numClasses: n,
      names: null,
      index: (v, t, row) => {
        const y = Number(v);
        if (y >= n)
          throw badFile(
            t.file,
            { line: row.line, column: col },
            `label ${y}, expected 0..${n - 1} (${n} classes, ${from})`,
            'check the label, or set numClasses',
          );
        return y;
      },
    };
  }
  if (numClasses !== undefined) {
    throw new KdqError(
      'E_CONFIG',
      `numClasses is set, but the labels in column '${col}' of '${train.file}' are names, not class indices; drop numClasses (names are numbered in sorted order)`,
    );
  }
  const names = [...new Set(train.rows.map((r) => r.fields[labelCol].trim()))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (names.length < 2)
    throw badFile(train.file, null, `every label in column '${col}' is '${names[0]}', but a classifier needs at least 2 classes`, 'check the label column');
  const ids = new Map(names.map((n, i) => [n, i]));
  return {
    numClasses: names.length,
    names,
    index: (v, t, row) => {
      const id = ids.get(v.trim());
      if (id === undefined) {
        throw badFile(
          t.file,
          { line: row.line, column: col },
          `label '${v}' is not a class of the training file (classes: ${names.join(', ')})`,
          'every test label must occur in the training file',
        );
      }
      return id;
    },
  };
}

function labels(t: Table, labelCol: number, c: Classes): Int32Array {
  return Int32Array.from(t.rows, (r) => c.index(r.fields[labelCol], t, r));
}

function pick(s: Split, f: number, idx: Uint32Array): Split {
  const x = new Float32Array(idx.length * f);
  const y = new Int32Array(idx.length);
  idx.forEach((src, i) => {
    x.set((s.x as Float32Array).subarray(src * f, src * f + f), i * f);
    y[i] = s.y[src];
  });
  return { count: idx.length, x, y };
}

/** Both splits decoded and checked. */
export async function readCsv(o: CsvOptions): Promise<DecodedData> {
  if ((o.test === undefined) === (o.testSplit === undefined)) {
    throw new KdqError(
      'E_CONFIG',
      `give either test (a second CSV file) or testSplit (a fraction of '${o.train}'), ${o.test === undefined ? 'not neither' : 'not both'}`,
    );
  }
  const train = await readTable(o.train);
  const test = o.test === undefined ? null : await readTable(o.test);
  if (test && test.header.join('\u0000') !== train.header.join('\u0000')) {
    throw badFile(
      test.file,
      { line: 1 },
      `the header (${test.header.join(', ')}) differs from the training file's (${train.header.join(', ')})`,
      'both files need the same columns in the same order',
    );
  }
  const labelCol = labelColumn(train, o.label);
  const c = classes(test ? [train, test] : [train], labelCol, o.numClasses);
  const f = train.header.length - 1;
  let trainSplit: Split = { count: train.rows.length, x: features(train, labelCol), y: labels(train, labelCol, c) };
  let testSplit: Split;
  if (test) testSplit = { count: test.rows.length, x: features(test, labelCol), y: labels(test, labelCol, c) };
  else {
    const idx = stratifiedSplit(trainSplit.y, c.numClasses, o.testSplit as number, o.seed ?? 0, 'testSplit');
    testSplit = pick(trainSplit, f, idx.test);
    trainSplit = pick(trainSplit, f, idx.train);
  }
  return {
    format: 'csv',
    inputShape: [f],
    dtype: 'float32',
    numClasses: c.numClasses,
    classNames: c.names,
    featureNames: train.header.filter((_, i) => i !== labelCol),
    trainCount: trainSplit.count,
    testCount: testSplit.count,
    train: trainSplit,
    test: testSplit,
  };
}

/** Shape, classes and counts: a CSV probe parses the whole file (see the top of this file). */
export async function probeCsv(o: CsvOptions): Promise<DataInfo> {
  const { train: _train, test: _test, ...info } = await readCsv(o);
  return info;
}
