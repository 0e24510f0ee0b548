/**
 * scripts/render-report.mjs: report.html renders in headless Chromium without console errors or
 * network requests, and the check does catch a page that has them. Needs Debian's `chromium`
 * (CI installs it from .ci/apt-packages); without it the Chromium tests are skipped, saying so.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { externalReferences, findChromium } from '../../scripts/render-report.mjs';
import { renderReportHtml } from '../../src/report/report-html.ts';
import { formatSweepHtml } from '../../src/sweep/summary-html.ts';
import { buildSweepSummary } from '../../src/sweep/summary.ts';
import { sampleMetrics, sampleMetricsOf, sampleReport, sampleSeedsReport } from './fixtures.ts';

const SCRIPT = new URL('../../scripts/render-report.mjs', import.meta.url).pathname;
const chromium = findChromium();
const NO_CHROMIUM = 'skipped: no chromium on PATH (apt-get install chromium, or set $CHROMIUM)';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kdq-render-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function script(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await promisify(execFile)(process.execPath, [SCRIPT, ...args], { timeout: 120_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

describe('external references in HTML', () => {
  it('finds URLs, src/href, url(), @import and scripts; a data: URL or a fragment is fine', () => {
    expect(externalReferences(renderReportHtml(sampleReport()))).toEqual([]);
    expect(externalReferences('<a href="#models">m</a><img src="data:image/png;base64,AAAA">')).toEqual([]);
    expect(externalReferences('<img src="x.png"><p style="background: url(//cdn.example.com/a.png)">')).toEqual([
      'URL //cdn.example.com/a.png',
      'src="x.png"',
      'url(//cdn.example.com/a.png)',
    ]);
    expect(externalReferences('<style>@import "a.css";</style><script>1</script>')).toEqual(['@import', '<script>']);
  });
});

describe.skipIf(!chromium)(`headless Chromium${chromium ? '' : ` (${NO_CHROMIUM})`}`, () => {
  it('renders report.html to a PNG with no console error and no request but the page itself', async () => {
    const html = join(dir, 'report.html');
    await writeFile(html, renderReportHtml(sampleReport()));
    const r = await script(html, join(dir, 'report.png'));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/report\.png: 1200 x \d+ px, 1 request\(s\), 0 problem\(s\)/);
    const png = await readFile(join(dir, 'report.png'));
    expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    // IHDR: width and height, big-endian, at bytes 16 and 20. The full page is taller than a screen.
    expect(png.readUInt32BE(16)).toBe(1200);
    expect(png.readUInt32BE(20)).toBeGreaterThan(1200);
  });

  it('renders reports of 2 and 100 named classes cleanly', async () => {
    for (const classes of [2, 100]) {
      const html = join(dir, `classes-${classes}.html`);
      await writeFile(html, renderReportHtml(sampleReport(sampleMetricsOf(classes, true))));
      const r = await script(html, join(dir, `classes-${classes}.png`));
      expect([r.code, r.stderr]).toEqual([0, '']);
    }
  });

  it('fails (exit 1) on a page that fetches from the network or logs an error', async () => {
    const html = join(dir, 'bad.html');
    await writeFile(html, `<!DOCTYPE html><html><body><img src="https://example.com/x.png"><script>console.error('boom')</script></body></html>`);
    const r = await script(html, join(dir, 'bad.png'));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('render-report: network request: https://example.com/x.png');
    expect(r.stderr).toContain('render-report: console error: boom');
    expect(r.stderr).toContain('render-report: external reference in the HTML: <script>');
  });
});

describe.skipIf(!chromium)(`horizontal overflow${chromium ? '' : ` (${NO_CHROMIUM})`}`, () => {
  it('a report of 5 seeds fits a 1280 px window: nothing passes the right edge outside a scroll container', async () => {
    const html = join(dir, 'seeds-5.html');
    await writeFile(html, renderReportHtml(sampleSeedsReport(5)));
    const r = await script(html, join(dir, 'seeds-5.png'), '--width', '1280');
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(r.stdout).toMatch(/seeds-5\.png: 1280 x \d+ px, 1 request\(s\), 0 problem\(s\)/);
  });

  it("a sweep's summary.html renders cleanly and fits 1280 px too", async () => {
    const html = join(dir, 'summary.html');
    const points = [16, 32, 64, 128, 256].map((width, i) => {
      const m = sampleMetrics({ int8: 0.9 + i * 0.015 });
      m.models.student_int8!.tflite!.bytes = width * 1400;
      return {
        id: `p${i + 1}`,
        params: { 'student.width': width, 'distillation.temperature': 4 },
        runDir: `kd-sample-p${i + 1}/20260101-000000-abcd`,
        metrics: m,
      };
    });
    await writeFile(html, formatSweepHtml(buildSweepSummary('kd-sample', '20260101-000000-abcd', ['student.width', 'distillation.temperature'], points)));
    const r = await script(html, join(dir, 'summary.png'), '--width', '1280');
    expect([r.code, r.stderr]).toEqual([0, '']);
  });

  it('flags (exit 1) a page wider than the window and an element past its edge, but not a wide table in a scroll container', async () => {
    const html = join(dir, 'wide.html');
    await writeFile(
      html,
      '<!DOCTYPE html><html><body style="margin: 0">' +
        '<div style="overflow-x: auto; width: 600px"><table><tr><td style="min-width: 3000px">scrolls, as intended</td></tr></table></div>' +
        '<table class="too-wide"><tr><td style="min-width: 1500px">a wide table</td></tr></table>' +
        '</body></html>',
    );
    const r = await script(html, join(dir, 'wide.png'), '--width', '1280');
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^render-report: horizontal overflow at 1280 px: the page is 15\d\d px wide$/),
      expect.stringMatching(/^render-report: horizontal overflow at 1280 px: table\.too-wide "a wide table" reaches 15\d\d px$/),
    ]);
    // The same page in a window wide enough for it is fine.
    const wide = await script(html, join(dir, 'wide.png'), '--width', '1700');
    expect([wide.code, wide.stderr]).toEqual([0, '']);
  });

  it('names the element, not its children, and at most five of them', async () => {
    const html = join(dir, 'many.html');
    const blocks = Array.from({ length: 7 }, (_, i) => `<div id="b${i}" style="width: 1400px"><span>child ${i}</span></div>`).join('');
    await writeFile(html, `<!DOCTYPE html><html><body>${blocks}</body></html>`);
    const r = await script(html, join(dir, 'many.png'), '--width', '1280');
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines.filter((l) => l.includes('div#b'))).toHaveLength(5);
    expect(lines).not.toContainEqual(expect.stringContaining('span'));
    expect(lines.at(-1)).toBe('render-report: horizontal overflow at 1280 px: 2 more element(s) past the edge');
  });
});

describe('render-report usage', () => {
  it('exits 2 on a missing file or bad arguments (3 without Chromium)', async () => {
    const missing = await script(join(dir, 'nope.html'));
    if (chromium) expect([missing.code, missing.stderr]).toEqual([2, `render-report: cannot read ${join(dir, 'nope.html')}\n`]);
    else expect([missing.code, missing.stderr]).toEqual([3, 'render-report: no Chromium found: install it (apt-get install chromium) or set $CHROMIUM\n']);
    const usage = await script();
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('usage: node scripts/render-report.mjs REPORT.html [OUT.png] [--width PIXELS]');
  });
});
