/** summary.html: the Pareto front of a sweep's points by .tflite size and accuracy, drawn and listed, on a self-contained page. */
import { describe, expect, it } from 'vitest';
import type { Metrics } from '../../src/report/metrics.ts';
import { formatSweepHtml, paretoFront, sizeAxes } from '../../src/sweep/summary-html.ts';
import { buildSweepSummary, type PointOutcome } from '../../src/sweep/summary.ts';
import { sweepMetrics } from './fixtures.ts';

const metrics = sweepMetrics;

const point = (id: string, width: number, m: Metrics | null, error?: string): PointOutcome => ({
  id,
  params: { 'student.width': width },
  runDir: m ? `x-${id}/r` : null,
  metrics: m,
  ...(error ? { error } : {}),
});

// p1 small and weak, p2 bigger and better, p3 as big as p2 but worse (dominated), p4 biggest and best, p5 failed.
const POINTS = [
  point('p1', 32, metrics(0.9, { accuracy: 0.9, bytes: 20_000 })),
  point('p2', 64, metrics(0.93, { accuracy: 0.95, bytes: 60_000 })),
  point('p3', 64, metrics(0.92, { accuracy: 0.94, bytes: 60_000 })),
  point('p4', 256, metrics(0.96, { accuracy: 0.97, bytes: 900_000 })),
  point('p5', 512, null, 'stage "student@s1" failed: <oom> & more'),
];
const SUMMARY = buildSweepSummary('x', 'sw1', ['student.width'], POINTS);

describe('paretoFront', () => {
  it('keeps the points nothing beats on both size and accuracy, smallest first', () => {
    const front = paretoFront([
      { id: 'a', bytes: 10, accuracy: 0.5 },
      { id: 'b', bytes: 20, accuracy: 0.7 },
      { id: 'c', bytes: 20, accuracy: 0.6 },
      { id: 'd', bytes: 30, accuracy: 0.7 },
      { id: 'e', bytes: 5, accuracy: 0.8 },
    ]);
    // e is smallest and most accurate: it dominates every other point.
    expect(front.map((p) => p.id)).toEqual(['e']);
    expect(
      paretoFront([
        { id: 'a', bytes: 10, accuracy: 0.5 },
        { id: 'b', bytes: 20, accuracy: 0.7 },
        { id: 'b2', bytes: 20, accuracy: 0.7 },
        { id: 'c', bytes: 20, accuracy: 0.6 },
        { id: 'd', bytes: 30, accuracy: 0.7 },
      ]).map((p) => p.id),
    ).toEqual(['a', 'b', 'b2']);
    expect(paretoFront([])).toEqual([]);
  });
});

describe('summary.html', () => {
  const html = formatSweepHtml(SUMMARY);

  it('plots the rank file size against its accuracy', () => {
    expect(sizeAxes(SUMMARY)).toEqual({ role: 'student_int8', size: 'models.student_int8.tflite.bytes', accuracy: 'models.student_int8.tflite.accuracy' });
    expect(html).toContain('aria-label="student_int8: accuracy against .tflite size"');
    // 20 000 to 900 000 bytes: a log axis.
    expect(html).toContain('student_int8.tflite size (KiB) (log scale)');
    expect([...html.matchAll(/<g class="point" data-label="([^"]*)">/g)].map((m) => m[1])).toEqual(['p4', 'p2', 'p3', 'p1']);
  });

  it('rings, joins and lists the Pareto front; a dominated point is on the chart only', () => {
    const ringed = [
      ...html.matchAll(/<g class="point" data-label="([^"]*)">\n<circle [^>]*><title>[^<]*<\/title><\/circle>\n<circle [^>]*r="8" fill="none"/g),
    ].map((m) => m[1]);
    expect(ringed.sort()).toEqual(['p1', 'p2', 'p4']);
    expect(html.match(/<polyline class="front"/g)).toHaveLength(1);
    const list = html.slice(html.indexOf('<table>'), html.indexOf('</table>'));
    expect([...list.matchAll(/<tr><td>(p\d)<\/td><td>(\d+)<\/td><td>([^<]*)<\/td><td>([^<]*)<\/td><\/tr>/g)].map((m) => m.slice(1))).toEqual([
      ['p1', '32', '19.5 KiB', '90.00%'],
      ['p2', '64', '58.6 KiB', '95.00%'],
      ['p4', '256', '878.9 KiB', '97.00%'],
    ]);
  });

  it('ends with every point, best first and marked, failed points with their error, escaped', () => {
    const points = html.slice(html.indexOf('<h2>Points</h2>'));
    expect([...points.matchAll(/<tr><td>(★?)<\/td><td>(p\d)<\/td>/g)].map((m) => m[1] + m[2])).toEqual(['★p4', 'p2', 'p3', 'p1', 'p5']);
    expect(points).toContain('failed: stage &quot;student@s1&quot; failed: &lt;oom&gt; &amp; more');
    expect(points).toContain('<td>x-p4/r</td>');
  });

  it('is one self-contained page with no script and no reference out', () => {
    expect(html.startsWith('<!DOCTYPE html>\n<html lang="en">')).toBe(true);
    expect(html).toContain('<title>Sweep sw1 of x</title>');
    expect(html).not.toMatch(/<script|<link|<img|@import|url\(|\b(src|href)=|https?:\/\//i);
  });

  it('says why there is no chart when the points have no quantized file', () => {
    const s = buildSweepSummary('x', 'sw2', ['student.width'], [point('p1', 32, metrics(0.9, null)), point('p2', 64, metrics(0.92, null))]);
    expect(sizeAxes(s)).toBeNull();
    const h = formatSweepHtml(s);
    expect(h).not.toContain('<svg');
    expect(h).toContain('No chart of accuracy against size');
    expect(h).toContain('<h2>Points</h2>');
  });
});
