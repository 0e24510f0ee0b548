/** The run header: its fields in both reports, the marker filled only where there is one. */
import { describe, expect, it } from 'vitest';
import { renderReportHtml } from '../../src/report/report-html.ts';
import { renderReportMd } from '../../src/report/report-md.ts';
import { durationText, fillRunHeader, RUN_HEADER_MARKER, runHeaderHtml, runHeaderMd, type RunHeader } from '../../src/report/run-header.ts';
import { sampleReport } from './fixtures.ts';

const HEADER: RunHeader = {
  runId: '20250301-090000-ab12',
  startedAt: new Date('2025-03-01T09:00:00.250Z'),
  seconds: 754.4,
  version: '0.1.0',
  git: { commit: 'abc1234', dirty: false },
};
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

describe('run header', () => {
  it('says the run id, the UTC start to the second, the duration, the kdq version and the commit', () => {
    expect(runHeaderMd(HEADER)).toBe('- run 20250301-090000-ab12 · started 2025-03-01T09:00:00Z · duration 754 s (12 min 34 s) · kdq 0.1.0 · commit abc1234');
    expect(runHeaderHtml(HEADER)).toBe(
      '<p class="run-header"><span><b>run</b> 20250301-090000-ab12</span> <span><b>started</b> 2025-03-01T09:00:00Z</span> ' +
        '<span><b>duration</b> 754 s (12 min 34 s)</span> <span><b>kdq</b> 0.1.0</span> <span><b>commit</b> abc1234</span></p>',
    );
  });

  it('flags uncommitted changes, says when git could not tell, and leaves the commit out outside a repository', () => {
    expect(runHeaderMd({ ...HEADER, git: { commit: 'abc1234', dirty: true } })).toMatch(/ · commit abc1234 \+ uncommitted changes$/);
    expect(runHeaderMd({ ...HEADER, git: { commit: 'abc1234', dirty: null } })).toContain('commit abc1234 (uncommitted changes not checked');
    expect(runHeaderMd({ ...HEADER, git: null })).not.toContain('commit');
    expect(runHeaderHtml({ ...HEADER, git: undefined })).not.toContain('commit');
  });

  it('prints short and long durations readably', () => {
    expect(durationText(4.25)).toBe('4.3 s');
    expect(durationText(42)).toBe('42 s');
    expect(durationText(3725)).toBe('3725 s (1 h 2 min 5 s)');
    expect(durationText(-1)).toBe('0.0 s');
  });

  it('the reports carry the marker under the title, never a date or id, so two renders of one input are identical', () => {
    const html = renderReportHtml(sampleReport());
    const md = renderReportMd(sampleReport());
    expect(html).toBe(renderReportHtml(sampleReport()));
    expect(md).toBe(renderReportMd(sampleReport()));
    expect(html).toContain(`<h1>kd-sample</h1>\n${RUN_HEADER_MARKER}\n`);
    expect(md.startsWith(`# kd-sample\n\n${RUN_HEADER_MARKER}\n\n`)).toBe(true);
    expect(html).not.toMatch(/\d{4}-\d\d-\d\dT/);
  });

  it('fills the marker of report.html and report.md by extension; other files and files without it keep their bytes', () => {
    const html = dec(fillRunHeader('report.html', enc(renderReportHtml(sampleReport())), HEADER));
    expect(html).not.toContain(RUN_HEADER_MARKER);
    expect(html).toContain(`<h1>kd-sample</h1>\n<p class="run-header"><span><b>run</b> 20250301-090000-ab12</span>`);
    const md = dec(fillRunHeader('report.md', enc(renderReportMd(sampleReport())), HEADER));
    expect(md.split('\n').slice(0, 3)).toEqual(['# kd-sample', '', runHeaderMd(HEADER)]);
    const other = enc(`x ${RUN_HEADER_MARKER}`);
    expect(fillRunHeader('metrics.json', other, HEADER)).toBe(other);
    const plain = enc('# no marker');
    expect(fillRunHeader('report.md', plain, HEADER)).toBe(plain);
    // `$&` in a value is text, not a replacement pattern.
    expect(dec(fillRunHeader('a.md', enc(RUN_HEADER_MARKER), { ...HEADER, version: '$&' }))).toContain('kdq $&');
  });
});
