import { describe, expect, it } from 'vitest';
import { formatGraph } from '../../src/pipeline/format.ts';
import { buildGraph } from '../../src/pipeline/graph.ts';
import type { RunResult } from '../../src/pipeline/run.ts';

const g = buildGraph([
  { id: 'data', kind: 'data', config: {}, inputs: {}, deps: [] },
  { id: 'teacher@s1', kind: 'teacher', config: {}, inputs: { data: 'data' }, deps: ['data'] },
  { id: 'report', kind: 'report', config: {}, inputs: { 'teacher@s1': 'teacher@s1', data: 'data' }, deps: ['teacher@s1', 'data'] },
]);

describe('formatGraph', () => {
  it('prints one line per stage in topological order with its deps', () => {
    expect(formatGraph(g)).toBe('data        <- (none)\nteacher@s1  <- data\nreport      <- teacher@s1, data\n');
  });

  it('adds status, short key and reason with explain', () => {
    const explain: RunResult = {
      ok: true,
      seconds: 0,
      stages: [
        { id: 'data', kind: 'data', key: 'ab'.repeat(32), details: {}, status: 'cached', seconds: 0, outDir: null, reason: 'cache hit' },
        {
          id: 'teacher@s1',
          kind: 'teacher',
          key: 'cd'.repeat(32),
          details: {},
          status: 'would-run',
          seconds: 0,
          outDir: null,
          reason: 'no entry for key (config changed)',
        },
      ],
    };
    expect(formatGraph(g, { explain }).split('\n').slice(0, 4)).toEqual([
      'data        <- (none)',
      '               cached abababababab: cache hit',
      'teacher@s1  <- data',
      '               would-run cdcdcdcdcdcd: no entry for key (config changed)',
    ]);
  });

  it('writes Graphviz dot with an edge per dependency', () => {
    expect(formatGraph(g, { dot: true })).toBe(
      [
        'digraph kdq {',
        '  rankdir=LR;',
        '  node [shape=box, style="rounded,filled", fillcolor=white];',
        '  "data" [label="data"];',
        '  "teacher@s1" [label="teacher@s1"];',
        '  "report" [label="report"];',
        '  "data" -> "teacher@s1";',
        '  "teacher@s1" -> "report";',
        '  "data" -> "report";',
        '}',
        '',
      ].join('\n'),
    );
  });
});
