/** The accuracy-against-size scatter and the per-class KD gain bars: the SVG functions and their place in report.html. */
import { describe, expect, it } from 'vitest';
import { perClassGainChart, renderReportHtml, seedSpreadChart, sizeChart } from '../../src/report/report-html.ts';
import { perClassGain, seedSpread, sizedModels, spreadRoles, type EpochPoint } from '../../src/report/report-data.ts';
import { barChart, GAIN_COLOR, logTicks, LOSS_COLOR, scatterChart, SERIES_COLORS, wantsLogScale } from '../../src/report/svg.ts';
import { sampleMetrics, sampleMetricsOf, sampleReport, sampleSeedsReport } from './fixtures.ts';

const circles = (svg: string) =>
  [...svg.matchAll(/<g class="point" data-label="([^"]*)">\n<circle cx="([\d.]+)" cy="([\d.]+)"/g)].map((m) => ({
    label: m[1],
    cx: Number(m[2]),
    cy: Number(m[3]),
  }));

describe('scatterChart', () => {
  it('draws a labelled dot per point, higher y higher up and larger x further right', () => {
    const svg = scatterChart(
      [
        { x: 10, y: 90, label: 'a' },
        { x: 20, y: 95, label: 'b' },
        { x: 15, y: 80, label: 'c' },
      ],
      { title: 'Acc vs size', xLabel: 'KiB', yLabel: '%' },
    );
    expect(svg.startsWith('<svg class="chart scatter" width="520" height="340"')).toBe(true);
    const pts = circles(svg);
    expect(pts.map((p) => p.label)).toEqual(['a', 'b', 'c']);
    const [a, b, c] = pts;
    expect(a!.cx < c!.cx && c!.cx < b!.cx).toBe(true);
    expect(b!.cy < a!.cy && a!.cy < c!.cy).toBe(true);
    expect(svg).toMatch(/font-size="11">a<\/text>/);
    expect(svg).not.toContain('log scale');
    expect(svg).not.toContain('NaN');
  });

  it('uses a log x axis with 1-2-5 ticks when asked, and says so on the axis', () => {
    expect(wantsLogScale([100, 1001])).toBe(true);
    expect(wantsLogScale([100, 1000])).toBe(false);
    expect(wantsLogScale([0, 1000])).toBe(false);
    expect(logTicks(150, 3000)).toEqual([200, 500, 1000, 2000]);
    const svg = scatterChart(
      [
        { x: 176.8, y: 96.5, label: 'int8' },
        { x: 2711.9, y: 98.5, label: 'teacher' },
        { x: 680.7, y: 97, label: 'student' },
      ],
      { title: 't', xLabel: 'size (KiB)', yLabel: '%', logX: true },
    );
    expect(svg).toContain('size (KiB) (log scale)');
    for (const t of ['200', '500', '1000', '2000']) expect(svg).toContain(`text-anchor="middle">${t}</text>`);
    // On a log axis, 680.7 sits where log10 puts it between the other two.
    const [int8, teacher, student] = circles(svg);
    const frac = (student!.cx - int8!.cx) / (teacher!.cx - int8!.cx);
    expect(frac).toBeCloseTo(Math.log10(680.7 / 176.8) / Math.log10(2711.9 / 176.8), 2);
  });

  it('rings the marked points, joins them in x order and names them in a legend', () => {
    const svg = scatterChart(
      [
        { x: 3, y: 3, label: 'p3', marked: true },
        { x: 1, y: 1, label: 'p1', marked: true },
        { x: 2, y: 0.5, label: 'p2' },
      ],
      { title: 't', xLabel: 'x', yLabel: 'y', markedName: 'Pareto front' },
    );
    expect(svg.match(/r="8" fill="none"/g)).toHaveLength(2);
    const line = /<polyline class="front"[^>]*points="([^"]*)"/
      .exec(svg)![1]!
      .split(' ')
      .map((p) => Number(p.split(',')[0]));
    expect(line).toHaveLength(2);
    expect(line[0]).toBeLessThan(line[1]!);
    expect(svg).toContain('>Pareto front</text>');
  });

  it('moves a label that would overlap another', () => {
    const svg = scatterChart(
      [
        { x: 1, y: 1, label: 'first label' },
        { x: 1.001, y: 1.0001, label: 'second label' },
        { x: 5, y: 5, label: 'far' },
      ],
      { title: 't', xLabel: 'x', yLabel: 'y' },
    );
    const ys = [...svg.matchAll(/<text x="[\d.]+" y="([\d.]+)" font-size="11">(first|second) label<\/text>/g)].map((m) => Number(m[1]));
    expect(ys).toHaveLength(2);
    expect(Math.abs(ys[0]! - ys[1]!)).toBeGreaterThanOrEqual(12);
  });

  it('says when there is nothing to draw, and escapes labels', () => {
    expect(scatterChart([], { title: 't', xLabel: 'x', yLabel: 'y' })).toContain('no data');
    const svg = scatterChart([{ x: 1, y: 1, label: '<b>&' }], { title: 't', xLabel: 'x', yLabel: 'y' });
    expect(svg).toContain('&lt;b&gt;&amp;');
    expect(svg).not.toContain('<b>');
  });
});

describe('barChart', () => {
  it('draws gains blue above the zero line and losses vermillion below it, a zero-height bar not at all', () => {
    const svg = barChart(
      [
        { label: '0', value: 2 },
        { label: '1', value: -1 },
        { label: '2', value: 0 },
      ],
      { title: 'gain', xLabel: 'class', yLabel: 'pts' },
    );
    const bars = [...svg.matchAll(/<rect class="bar (gain|loss)" x="[\d.]+" y="([\d.]+)" width="[\d.]+" height="([\d.]+)" fill="(#[0-9A-F]+)">/g)].map((m) => ({
      kind: m[1],
      top: Number(m[2]),
      height: Number(m[3]),
      fill: m[4],
    }));
    expect(bars.map((b) => [b.kind, b.fill])).toEqual([
      ['gain', GAIN_COLOR],
      ['loss', LOSS_COLOR],
    ]);
    const zero = Number(/<line class="zero" x1="\d+" y1="([\d.]+)"/.exec(svg)![1]);
    expect(bars[0]!.top + bars[0]!.height).toBeCloseTo(zero, 1);
    expect(bars[1]!.top).toBeCloseTo(zero, 1);
    // Lengths in proportion to the values.
    expect(bars[0]!.height / bars[1]!.height).toBeCloseTo(2, 1);
    expect([...svg.matchAll(/text-anchor="middle">(\d)<\/text>/g)].map((m) => m[1])).toEqual(['0', '1', '2']);
  });

  it('labels every tenth of 100 bars and widens to fit them', () => {
    const svg = barChart(
      Array.from({ length: 100 }, (_, k) => ({ label: String(k), value: k % 2 === 0 ? 1 : -1 })),
      { title: 't', xLabel: 'class', yLabel: 'pts' },
    );
    expect(svg).toContain('width="780"');
    expect(svg.match(/<rect class="bar /g)).toHaveLength(100);
    expect([...svg.matchAll(/text-anchor="middle">(\d+)<\/text>/g)].map((m) => m[1])).toEqual(['0', '10', '20', '30', '40', '50', '60', '70', '80', '90']);
  });
});

describe('report.html charts', () => {
  it('places every model with a .tflite file by size and accuracy, and names those without one', () => {
    const m = sampleMetrics();
    expect(sizedModels(m)).toEqual({
      sized: [
        { role: 'teacher', bytes: 2777000, accuracy: 0.985 },
        { role: 'student', bytes: 697000, accuracy: 0.97 },
        { role: 'student_int8', bytes: 181000, accuracy: 0.965 },
      ],
      unsized: ['student_baseline'],
    });
    const chart = sizeChart(m)!;
    expect(circles(chart).map((p) => p.label)).toEqual(['teacher', 'student', 'student_int8']);
    expect(chart).toContain('(log scale)'); // 176.8 to 2711.9 KiB
    expect(chart).toContain('Not shown (no .tflite file): student_baseline.');
    const html = renderReportHtml(sampleReport());
    expect(html.indexOf('aria-label="Accuracy against .tflite size"')).toBeGreaterThan(html.indexOf('<h2>Models</h2>'));
    expect(html.indexOf('aria-label="Accuracy against .tflite size"')).toBeLessThan(html.indexOf('<h2>Per-class accuracy</h2>'));
  });

  it('has no size chart when no model has a file', () => {
    const m = sampleMetrics();
    for (const v of Object.values(m.models)) delete v.tflite;
    expect(sizeChart(m)).toBeNull();
    expect(renderReportHtml({ ...sampleReport(m) })).not.toContain('class="chart scatter"');
  });

  it('draws the per-class KD gain in points, class by class, only when both students have per-class accuracy', () => {
    const m = sampleMetrics();
    m.models.student!.per_class_accuracy = [0.9, 0.8, null, 0.7];
    m.models.student_baseline!.per_class_accuracy = [0.85, 0.82, 0.5, 0.7];
    expect(perClassGain(m)!.map((g) => [g.k, Number((g.gain * 100).toFixed(6))])).toEqual([
      [0, 5],
      [1, -2],
      [3, 0],
    ]);
    const chart = perClassGainChart(m)!;
    expect(chart).toContain('<title>0: +5.00 pts</title>');
    expect(chart).toContain('<title>1: -2.00 pts</title>');
    expect(chart.match(/<rect class="bar gain"/g)).toHaveLength(1);
    expect(chart.match(/<rect class="bar loss"/g)).toHaveLength(1);
    const html = renderReportHtml(sampleReport(m));
    expect(html.indexOf('aria-label="Per-class KD gain (distilled student minus baseline)"')).toBeGreaterThan(html.indexOf('<h2>Per-class accuracy</h2>'));
    delete m.models.student_baseline!.per_class_accuracy;
    expect(perClassGain(m)).toBeNull();
    expect(renderReportHtml(sampleReport(m))).not.toContain('Per-class KD gain');
  });

  it('names classes in the tooltips where the data has names', () => {
    const m = sampleMetricsOf(2, true);
    m.models.student!.per_class_accuracy![1]! += 0.05;
    expect(perClassGainChart(m)).toContain('<title>1 name_1: +5.00 pts</title>');
  });
});

describe('seed spread', () => {
  it('averages each epoch over the seeds that reached it, with the lowest and highest', () => {
    const run = (accs: number[]): EpochPoint[] => accs.map((accuracy, i) => ({ epoch: i + 1, loss: 1, accuracy }));
    // The third seed stopped early after epoch 1.
    const spread = seedSpread([run([0.5, 0.7]), run([0.6, 0.9]), run([0.7])], (p) => p.accuracy);
    expect(spread.map((p) => ({ ...p, mean: Number(p.mean.toFixed(6)) }))).toEqual([
      { epoch: 1, mean: 0.6, min: 0.5, max: 0.7, n: 3 },
      { epoch: 2, mean: 0.8, min: 0.7, max: 0.9, n: 2 },
    ]);
    expect(seedSpread([run([0.5])], (p) => p.valAccuracy)).toEqual([]);
    expect(spreadRoles({ student: [run([0.5]), run([0.6])], student_baseline: [run([0.5])], teacher: [run([0.5]), []] })).toEqual(['student']);
  });

  it('draws both students over 5 seeds: the mean as a line, min to max as a band behind it, training solid and validation dashed', () => {
    const r = sampleSeedsReport(5);
    const chart = seedSpreadChart(r)!;
    expect(chart).toContain('aria-label="Accuracy per epoch, 5 seeds (mean, min–max band)"');
    const bands = [...chart.matchAll(/<polygon class="band" data-name="([^"]*)" fill="(#[0-9A-F]+)" fill-opacity="([\d.]+)" stroke="none" points="([^"]*)"/g)];
    expect(bands.map((b) => b[1])).toEqual(['student', 'student (val)', 'student_baseline', 'student_baseline (val)']);
    // Colours as on the other curve charts (student second, baseline third), validation fainter.
    expect(bands.map((b) => [b[2], b[3]])).toEqual([
      [SERIES_COLORS[1], '0.18'],
      [SERIES_COLORS[1], '0.1'],
      [SERIES_COLORS[2], '0.18'],
      [SERIES_COLORS[2], '0.1'],
    ]);
    // Every band is drawn before the first line, so none hides a line.
    expect(chart.lastIndexOf('<polygon class="band"')).toBeLessThan(chart.indexOf('<polyline'));
    // The student's training band: 4 epochs along the top, back along the bottom; the mean line runs inside it.
    const pts = bands[0]![4]!.split(' ').map((p) => p.split(',').map(Number) as [number, number]);
    expect(pts).toHaveLength(8);
    const line = new RegExp('data-name="student">\\n<polyline [^>]*points="([^"]*)"')
      .exec(chart)![1]!
      .split(' ')
      .map((p) => p.split(',').map(Number));
    line.forEach(([x, y], i) => {
      const top = pts[i]!;
      const bottom = pts[7 - i]!;
      expect([top[0], bottom[0]]).toEqual([x, x]);
      expect(top[1] < y! && y! < bottom[1]!).toBe(true);
    });
    expect(chart.match(/stroke-dasharray="6 4" points=/g)).toHaveLength(2);
  });

  it('goes after the curve charts of the first seed, which the page says it follows; one seed draws no spread', () => {
    const html = renderReportHtml(sampleSeedsReport(5));
    const labels = [...html.matchAll(/<svg [^>]*aria-label="([^"]*)"/g)].map((m) => m[1]);
    expect(labels.slice(-2)).toEqual(['Accuracy per epoch', 'Accuracy per epoch, 5 seeds (mean, min–max band)']);
    expect(html).toContain('The charts and the table follow the first seed (1), but for the last chart');
    const one = sampleSeedsReport(1);
    expect(seedSpreadChart(one)).toBeNull();
    expect(seedSpreadChart({ ...sampleReport() })).toBeNull();
    expect(renderReportHtml(sampleReport())).not.toContain('class="band"');
  });
});
