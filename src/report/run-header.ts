/**
 * The run header of report.html and report.md: which run this is, when it started, how long it
 * took, which kdq and which commit of the experiment produced it. These facts differ between
 * identical runs, so the report stage (whose output must be reproducible) writes only a marker
 * where the header goes, and publishing the run folder fills it in (fillRunHeader).
 */
import type { PublishTransform } from '../pipeline/publish.ts';
import type { GitState } from '../util/git-state.ts';
import { escapeXml } from './svg.ts';

/** Where the header goes: an HTML comment, invisible in report.html and in rendered Markdown alike. */
export const RUN_HEADER_MARKER = '<!-- kdq:run-header -->';

export interface RunHeader {
  /** The run folder's name, `YYYYMMDD-HHMMSS-<4 hex>`. */
  runId: string;
  startedAt: Date;
  /** Wall seconds from the start to publishing the run folder. */
  seconds: number;
  /** kdq's version (package.json). */
  version: string;
  /** The commit of the repository holding the experiment file; absent outside one. */
  git?: GitState | null;
}

/** `2025-03-01T09:14:07Z`: second precision, UTC. */
export function isoSecond(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** `42.5 s` under ten seconds, `1234 s` above (and `(20 min 34 s)` from a minute on). */
export function durationText(seconds: number): string {
  const s = Math.max(0, seconds);
  const whole = s < 10 ? s.toFixed(1) : String(Math.round(s));
  if (s < 60) return `${whole} s`;
  const r = Math.round(s);
  const h = Math.floor(r / 3600);
  const m = Math.floor((r % 3600) / 60);
  return `${whole} s (${h > 0 ? `${h} h ` : ''}${m} min ${r % 60} s)`;
}

/** The header's facts as label/value pairs, in the order both reports show them. */
export function runHeaderFields(h: RunHeader): [string, string][] {
  const fields: [string, string][] = [
    ['run', h.runId],
    ['started', isoSecond(h.startedAt)],
    ['duration', durationText(h.seconds)],
    ['kdq', h.version],
  ];
  if (h.git) {
    const state = h.git.dirty === true ? ' + uncommitted changes' : h.git.dirty === null ? ' (uncommitted changes not checked: git status timed out)' : '';
    fields.push(['commit', `${h.git.commit}${state}`]);
  }
  return fields;
}

export function runHeaderHtml(h: RunHeader): string {
  const items = runHeaderFields(h).map(([k, v]) => `<span><b>${escapeXml(k)}</b> ${escapeXml(v)}</span>`);
  return `<p class="run-header">${items.join(' ')}</p>`;
}

/** One list item: `- run … · started … · duration … · kdq … · commit …`. */
export function runHeaderMd(h: RunHeader): string {
  // Values are ids, dates, versions and hashes: nothing Markdown would read as syntax but `_` and `*`.
  return `- ${runHeaderFields(h)
    .map(([k, v]) => `${k} ${v.replace(/([\\`*_[\]<>])/g, '\\$1')}`)
    .join(' · ')}`;
}

/**
 * A published file with its marker replaced by the header: report.html's and report.md's (chosen
 * by extension); any other file, or one without the marker, is returned as it is.
 */
export function fillRunHeader(path: string, data: Uint8Array, h: RunHeader): Uint8Array {
  const render = path.endsWith('.html') ? runHeaderHtml : path.endsWith('.md') ? runHeaderMd : null;
  if (!render) return data;
  const text = new TextDecoder().decode(data);
  if (!text.includes(RUN_HEADER_MARKER)) return data;
  return new TextEncoder().encode(text.replace(RUN_HEADER_MARKER, () => render(h)));
}

/** The publish transform of a kdq run: the reports' marker filled from the run folder being published. */
export function runHeaderTransform(version: string, git: GitState | null): PublishTransform {
  return (path, data, run) =>
    fillRunHeader(path, data, {
      runId: run.id,
      startedAt: run.startedAt,
      seconds: (run.publishedAt.getTime() - run.startedAt.getTime()) / 1000,
      version,
      git,
    });
}
