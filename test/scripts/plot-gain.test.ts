import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gainSvg, main, readSweepPoint, sweepTable, valueAt } from '../../scripts/plot-gain.ts';

let root: string;
const stat = (mean: number, std: number) => ({ mean, std, n: 5 });

async function runFolder(name: string, temperature: number, gain: [number, number], withInt8 = true): Promise<string> {
  const dir = join(root, name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'config.yaml'), `# resolved\nname: ${name}\ndistillation:\n  temperature: ${temperature}\n`);
  const summary: Record<string, unknown> = {
    kd_gain: stat(...gain),
    'student.accuracy': stat(0.9 + gain[0], 0.002),
    'student_baseline.accuracy': stat(0.9, 0.003),
    ...(withInt8 ? { 'student_int8.tflite.accuracy': stat(0.899 + gain[0], 0.002) } : {}),
  };
  await writeFile(join(dir, 'metrics.json'), JSON.stringify({ experiment: name, summary }));
  return dir;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'kdq-plot-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('plot-gain', () => {
  it('reads the swept key and the summary of a run folder', async () => {
    const dir = await runFolder('t4', 4, [0.02, 0.004]);
    const p = await readSweepPoint(dir, 'distillation.temperature');
    expect(p).toMatchObject({ x: 4, gain: { mean: 0.02, std: 0.004, n: 5 }, baseline: { mean: 0.9 }, int8: { mean: 0.919 } });
    expect(valueAt({ a: { b: 3 } }, 'a.c')).toBeUndefined();
  });

  it('tables the points by x, in percent, and says whether each gain exceeds twice its std', async () => {
    const a = await readSweepPoint(await runFolder('t8', 8, [0.003, 0.002], false), 'distillation.temperature');
    const b = await readSweepPoint(await runFolder('t2', 2, [0.01, 0.001]), 'distillation.temperature');
    const lines = sweepTable([a, b], 'T').trim().split('\n');
    expect(lines[2]).toBe('| 2 | 5 | 91.00 ± 0.20 | 90.00 ± 0.30 | 1.00 ± 0.10 | yes | 90.90 ± 0.20 |');
    expect(lines[3]).toBe('| 8 | 5 | 90.30 ± 0.20 | 90.00 ± 0.30 | 0.30 ± 0.20 | no |  |');
  });

  it('draws one error bar per point, spanning mean ± std on the y scale, and a zero line', async () => {
    const pts = await Promise.all([
      runFolder('p1', 1, [-0.01, 0.01]).then((d) => readSweepPoint(d, 'distillation.temperature')),
      runFolder('p3', 3, [0.03, 0.01]).then((d) => readSweepPoint(d, 'distillation.temperature')),
    ]);
    const svg = gainSvg(pts, { xLabel: 'T', title: 'a < b & c' });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg).toContain('a &lt; b &amp; c');
    expect(svg.match(/<circle /g)).toHaveLength(2);
    expect(svg).toContain('<title>1: -1.00 ± 1.00 points (n = 5)</title>');
    // y spans [-2, 4] points before 10% padding, so the bars of the two points do not overlap in
    // pixels above 0 and the second point's bar lies wholly above the zero line.
    const bar = [...svg.matchAll(/<line x1="([\d.]+)" x2="\1" y1="([\d.]+)" y2="([\d.]+)" stroke="#1f77b4"\/>/g)].map((m) => [Number(m[2]), Number(m[3])]);
    const zero = Number(/<line x1="64" x2="620" y1="([\d.]+)" y2="\1" stroke="#888"/.exec(svg)![1]);
    expect(bar).toHaveLength(2);
    expect(bar[0][0]).toBeGreaterThan(zero); // the first bar reaches -2 points: below the zero line (larger y)
    expect(bar[1][0]).toBeLessThan(zero);
    expect(bar[1][0] - bar[1][1]).toBeCloseTo(bar[0][0] - bar[0][1], 1); // same std, same bar length
  });

  it('writes the SVG and returns the table; bad input is a usage error naming the file', async () => {
    const d = await runFolder('w', 5, [0.01, 0.002]);
    const out = join(root, 'plot.svg');
    const table = await main(['--x', 'distillation.temperature', '--out', out, d]);
    expect(table).toContain('| 5 | 5 |');
    expect(await readFile(out, 'utf8')).toContain('<svg');
    await expect(main(['--x', 'distillation.temperature', '--out', out, join(root, 'nope')])).rejects.toThrow(/nope\/config.yaml cannot be read/);
    await expect(main(['--x', 'distillation.loss', '--out', out, d])).rejects.toThrow(/distillation.loss is undefined, not a number/);
    await expect(main(['--x', 'distillation.temperature', '--outt', out, d])).rejects.toThrow(/unknown option --outt/);
    await writeFile(join(d, 'metrics.json'), JSON.stringify({ experiment: 'w', kd_gain: 0.01 }));
    await expect(main(['--x', 'distillation.temperature', '--out', out, d])).rejects.toThrow(/no summary of kd_gain.*at least two seeds/);
  });
});
