/** report.md, report.html and their SVG charts, rendered from fixed data. */
import { describe, expect, it } from 'vitest';
import { renderReportHtml, confusionTable } from '../../src/report/report-html.ts';
import { escapeMdCell, mdTable, renderReportMd } from '../../src/report/report-md.ts';
import { curvesTable, modelsTable, perClassTable, topConfusions, type EpochPoint } from '../../src/report/report-data.ts';
import { escapeXml, lineChart, niceTicks } from '../../src/report/svg.ts';
import { sampleMetrics, sampleMetricsOf, sampleReport } from './fixtures.ts';

const HOSTILE = 'a|b <script>alert("x")</script> & *bold* `code`';

describe('svg', () => {
  it('ticks are round numbers covering the range', () => {
    expect(niceTicks(0, 1, 5)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(0.19, 1.46, 6)).toEqual([0.25, 0.5, 0.75, 1, 1.25]);
    expect(niceTicks(1, 10, 8)).toEqual([2, 4, 6, 8, 10]);
    expect(niceTicks(3, 3)).toEqual([3]);
    expect(niceTicks(NaN, 1)).toEqual([]);
  });

  it('draws one group per series, a dot per point, a polyline from two points on', () => {
    const svg = lineChart(
      [
        {
          name: 'teacher',
          points: [
            [1, 0.5],
            [2, 0.25],
            [3, 0.2],
          ],
        },
        { name: 'student', points: [[1, 0.9]] },
      ],
      { title: 'Loss', xLabel: 'epoch', yLabel: 'loss' },
    );
    expect(svg.startsWith('<svg class="chart" width="520" height="320" viewBox="0 0 520 320" role="img" aria-label="Loss">')).toBe(true);
    expect(svg.endsWith('</svg>')).toBe(true);
    expect(svg.match(/<g class="series"/g)).toHaveLength(2);
    expect(svg.match(/<polyline /g)).toHaveLength(1);
    expect(svg.match(/<circle /g)).toHaveLength(4);
    // x ticks are whole epochs.
    expect([...svg.matchAll(/text-anchor="middle">(\d+)<\/text>/g)].map((m) => m[1])).toEqual(['1', '2', '3']);
    // The first point of the teacher is at the left edge of the plot, the highest value at the top.
    expect(svg).toContain('<circle cx="64" ');
  });

  it('wraps a legend too long for one row, growing the chart so the plot keeps its height', () => {
    const names = ['teacher', 'student_baseline', 'teacher (val)', 'student (val)', 'student_baseline (val)'];
    const svg = lineChart(
      names.map((name, i) => ({
        name,
        points: [
          [1, i],
          [2, i + 1],
        ] as [number, number][],
      })),
      { title: 'Cross-entropy', xLabel: 'epoch', yLabel: 'loss' },
    );
    const rows = [...new Set([...svg.matchAll(/<text x="\d+" y="(\d+)" font-size="11" dominant-baseline="middle">/g)].map((m) => Number(m[1])))];
    expect(rows).toEqual([38, 52]);
    expect(svg).toContain('height="334"');
    expect(svg).toContain('<rect x="64" y="66" width="440" height="220"');
  });

  it('a single epoch still shows as dots; no data says so', () => {
    const one = lineChart([{ name: 's', points: [[1, 0.7]] }], { title: 't', xLabel: 'x', yLabel: 'y' });
    expect(one).toContain('<circle ');
    expect(one).not.toContain('NaN');
    expect(lineChart([], { title: 't', xLabel: 'x', yLabel: 'y' })).toContain('no data');
  });

  it('escapes names, titles and labels', () => {
    expect(escapeXml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
    const svg = lineChart(
      [
        {
          name: HOSTILE,
          points: [
            [1, 1],
            [2, 2],
          ],
        },
      ],
      { title: HOSTILE, xLabel: HOSTILE, yLabel: HOSTILE },
    );
    expect(svg).not.toContain('<script>');
    expect(svg).toContain('a|b &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp;');
  });
});

describe('report tables', () => {
  it('models side by side, per-class columns, curves per epoch', () => {
    const m = sampleMetrics();
    const t = modelsTable(m);
    expect(t.header).toEqual(['model', 'params', 'tf.js accuracy', '.tflite accuracy', '.tflite size', 'mode', 'agreement w/ student', 'agreement w/ teacher']);
    expect(t.rows.map((r) => r[0])).toEqual(['teacher', 'student', 'student_baseline', 'student_int8']);
    expect(t.rows[3]).toEqual(['student_int8', '-', '-', '96.50%', '176.8 KiB', 'int8', '99.00%', '97.00%']);
    const pc = perClassTable(m)!;
    expect(pc.header).toEqual(['class', 'teacher (tf.js)', 'student (tf.js)', 'student_baseline (tf.js)', 'student_int8 (.tflite)']);
    expect(pc.rows).toHaveLength(10);
    expect(pc.rows[9]).toEqual(['9', '95.90%', '94.40%', '93.40%', '92.90%']);
    const c = curvesTable(sampleReport().curves)!;
    expect(c.rows[2]).toEqual(['3', '0.3000', '95.00%', '0.4667', '90.00%', '0.2667', '87.00%']);
    expect(curvesTable({})).toBeNull();
  });
});

describe('report.md', () => {
  it('has its sections in order, as GitHub tables', () => {
    const md = renderReportMd(sampleReport());
    const headings = md.split('\n').filter((l) => l.startsWith('#'));
    expect(headings).toEqual(['# kd-sample', '## Models', '## Per-class accuracy', '## Confusion matrix of student\\_int8', '## Training curves']);
    expect(md).toContain('| model | params | tf.js accuracy |');
    expect(md).toContain('| --- | ---: | ---: |');
    expect(md).toContain('| 0 | 19 | 0 | 0 | 1 | 0 | 0 | 0 | 0 | 0 | 0 |');
    expect(md).toContain('- KD gain (distilled student minus baseline, tf.js accuracy): +1.00 points');
    expect(md).toContain('- backend: wasm (tf.js 4.22.0), seed');
  });

  it('names the SIMD kernel build when metrics.json has one (it decides the bits)', () => {
    const m = sampleMetrics();
    const md = renderReportMd(sampleReport({ ...m, backend: { ...m.backend, kernels: 'fma' } }));
    expect(md).toContain('- backend: wasm (tf.js 4.22.0, fma kernels), seed');
  });

  it('escapes names so a table cell stays one cell', () => {
    expect(escapeMdCell('a|b\nc<d>')).toBe('a\\|b c&lt;d&gt;');
    expect(mdTable({ header: ['x', 'y'], rows: [['p|q', '1']] })).toBe('| x | y |\n| --- | ---: |\n| p\\|q | 1 |');
    const md = renderReportMd({ ...sampleReport(), description: HOSTILE });
    expect(md).not.toContain('<script>');
    expect(md).toContain('a\\|b \\<script\\>');
  });
});

describe('report.html', () => {
  const html = renderReportHtml(sampleReport());

  it('is one self-contained page: no URL, no script, no external asset, a no-network policy', () => {
    expect(html.startsWith('<!DOCTYPE html>\n<html lang="en">')).toBe(true);
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/<script|<link|<img|<iframe|@import|url\(/i);
    expect(html).not.toMatch(/\b(src|href)=/);
    expect(html).toContain(`<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`);
  });

  it('shows models, per-class accuracy, the int8 confusion matrix and a curve chart per kind of loss, then accuracy', () => {
    const h2 = [...html.matchAll(/<h2>(.*?)<\/h2>/g)].map((m) => m[1]);
    expect(h2).toEqual(['Models', 'Per-class accuracy', 'Confusion matrix of student_int8', 'Training curves']);
    expect([...html.matchAll(/<svg [^>]*aria-label="([^"]*)"/g)].map((m) => m[1])).toEqual([
      'Accuracy against .tflite size',
      'Per-class KD gain (distilled student minus baseline)',
      'Cross-entropy per epoch',
      'KD loss per epoch (distilled student)',
      'Training accuracy per epoch',
    ]);
    expect(html).toContain('<title>kd-sample: kdq report</title>');
    expect(html.match(/<g class="series" data-name="(teacher|student|student_baseline)">/g)).toHaveLength(6);
  });

  it('draws validation curves dashed in the colour of their model, and the learning rate when a schedule changed it', () => {
    const r = sampleReport();
    const withVal = (points: EpochPoint[], lr: (e: number) => number): EpochPoint[] =>
      points.map((p) => ({ ...p, learningRate: lr(p.epoch), valLoss: p.loss + 0.1, valAccuracy: p.accuracy - 0.02 }));
    const curves = {
      teacher: withVal(r.curves.teacher!, () => 0.001),
      student: withVal(r.curves.student!, (e) => 0.001 / e),
      student_baseline: r.curves.student_baseline,
    };
    const h = renderReportHtml({ ...r, curves });
    const charts = h.slice(h.indexOf('<h2>Training curves</h2>')).split('<svg ').slice(1);
    expect(charts.map((c) => /aria-label="([^"]*)"/.exec(c)![1])).toEqual([
      'Cross-entropy per epoch',
      'KD loss per epoch (distilled student)',
      'Accuracy per epoch',
      'Learning rate per epoch',
    ]);
    // Cross-entropy: teacher and baseline training, teacher and student validation (the student's training loss is KD).
    expect([...charts[0].matchAll(/data-name="([^"]*)"/g)].map((m) => m[1])).toEqual(['teacher', 'student_baseline', 'teacher (val)', 'student (val)']);
    const polyline = (chart: string, name: string) => new RegExp(`data-name="${name.replace(/[()]/g, '\\$&')}">\\n<polyline [^>]*`).exec(chart)![0];
    expect(polyline(charts[0], 'teacher (val)')).toContain('stroke-dasharray');
    expect(polyline(charts[0], 'teacher')).not.toContain('stroke-dasharray');
    const colour = (line: string) => /stroke="(#[0-9A-F]+)"/.exec(line)![1];
    expect(colour(polyline(charts[0], 'teacher (val)'))).toBe(colour(polyline(charts[0], 'teacher')));
    expect(colour(polyline(charts[2], 'student (val)'))).toBe(colour(polyline(charts[1], 'student')));
    expect(h).toContain('<div class="scroll"><table>');
    // Only the student's rate changed.
    expect([...charts[3].matchAll(/data-name="([^"]*)"/g)].map((m) => m[1])).toEqual(['student']);
    const t = curvesTable(curves)!;
    expect(t.header).toEqual([
      'epoch',
      'teacher loss',
      'teacher accuracy',
      'teacher val loss',
      'teacher val accuracy',
      'student loss',
      'student accuracy',
      'student val loss',
      'student val accuracy',
      'student learning rate',
      'student_baseline loss',
      'student_baseline accuracy',
    ]);
    expect(t.rows[2]).toEqual(['3', '0.3000', '95.00%', '0.4000', '93.00%', '0.4667', '90.00%', '0.5667', '88.00%', '0.000333', '0.2667', '87.00%']);
  });

  it('shades the confusion matrix by row share: blue diagonal, orange mistakes, blank zeros', () => {
    const t = confusionTable([
      [3, 1],
      [0, 0],
    ]);
    expect(t).toContain(
      '<tr><th>0</th><td style="background: rgba(0, 114, 178, 0.750); color: #fff">3</td><td style="background: rgba(213, 94, 0, 1.000)">1</td><td>75.00%</td></tr>',
    );
    expect(t).toContain('<tr><th>1</th><td>0</td><td>0</td><td>-</td></tr>');
  });

  it('escapes the experiment name, description and role names', () => {
    const r = sampleReport(sampleMetrics({ experiment: HOSTILE }));
    const h = renderReportHtml({ ...r, description: HOSTILE, curves: { [HOSTILE]: r.curves.teacher } as never });
    expect(h).not.toContain('<script>');
    expect(h).toContain('<h1>a|b &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; *bold* `code`</h1>');
  });

  it('leaves out sections it has no data for', () => {
    const m = sampleMetrics();
    delete m.models.student_int8!.tflite!.confusion_matrix;
    for (const v of Object.values(m.models)) {
      delete v.per_class_accuracy;
      if (v.tflite) delete v.tflite.per_class_accuracy;
    }
    const h = renderReportHtml({ metrics: m, description: '', curves: {} });
    expect([...h.matchAll(/<h2>(.*?)<\/h2>/g)].map((x) => x[1])).toEqual(['Models']);
  });
});

describe('reports from 2 to 100 classes', () => {
  it('names classes where the data has names: per-class rows, confusion rows and the facts', () => {
    const m = sampleMetricsOf(2, true);
    expect(perClassTable(m)!.rows.map((r) => r[0])).toEqual(['0 name_0', '1 name_1']);
    const html = renderReportHtml(sampleReport(m));
    expect(html).toContain('<tr><th>0 name_0</th>');
    expect(html).toContain('40 test examples, 2 classes');
    expect(renderReportMd(sampleReport(m))).toContain('| 1 name_1 | 1 | 19 |');
  });

  it('draws more than 20 classes as a picture with the largest mistakes beside it, not a table of counts', () => {
    const m = sampleMetricsOf(100, true);
    const html = renderReportHtml(sampleReport(m));
    expect(html).not.toContain('<table class="confusion">');
    expect(html).toContain('class="chart heatmap"');
    // One square per non-empty cell, its counts in a tooltip.
    const cells = m.models.student_int8!.tflite!.confusion_matrix!.flat().filter((n) => n > 0).length;
    expect(html.match(/<rect x="\d+" y="\d+" width="6" height="6" fill="rgba/g)).toHaveLength(cells);
    expect(html).toContain('<title>3 name_3 taken for 4 name_4: 6 of 20</title>');
    const top = topConfusions(m.models.student_int8!.tflite!.confusion_matrix!, m.data.class_names!);
    expect(top.rows[0]).toEqual(['3 name_3', '4 name_4', '6', '30.00%']);
    expect(top.rows).toHaveLength(15);
    const md = renderReportMd(sampleReport(m));
    expect(md).toContain('100 classes: the largest mistakes');
    expect(md).toContain('| 3 name_3 | 4 name_4 | 6 | 30.00% |');
    expect(md.split('\n').filter((l) => l.startsWith('| 99 name_99 |'))).toHaveLength(1); // per-class row only
  });
});
