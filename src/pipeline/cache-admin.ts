/**
 * The `kdq cache` commands: `ls` (entries, sizes, whether a run folder uses them; or one
 * experiment's stages and their entries), `gc` (free space
 * without losing work) and `verify` (re-hash everything, drop what is damaged). Each returns the
 * text the CLI prints; all of them leave alone what kdq did not make (see cache-root.ts).
 */
import { readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { KdqError } from '../errors.ts';
import { bytesText } from '../util/bytes-text.ts';
import { suggest } from '../util/suggest.ts';
import { Cache } from './cache.ts';
import { checkReadableRoot, inspectCacheRoot, notAFolder } from './cache-root.ts';
import { removeAbandonedRuns } from './run-folder.ts';
import type { RunResult } from './run.ts';
import type { StageResult } from './results.ts';
import { readStages } from './stages-file.ts';
import { MANIFEST_FILE } from './manifest.ts';
import { readUnfinishedRuns, type UnfinishedRun } from './unfinished-runs.ts';

export interface CacheAdminOptions {
  /** The cache folder, resolved. */
  cacheDir: string;
  /** The runs folder whose run folders say which entries are in use, resolved. */
  runsDir: string;
}

/** Keys referred to by any run folder's stages.json under `runsDir`. */
export async function referencedKeys(runsDir: string): Promise<Set<string>> {
  const keep = new Set<string>();
  const names = await readdir(runsDir).catch(() => [] as string[]);
  for (const name of names) {
    if (name.startsWith('.')) continue;
    const runs = await readdir(join(runsDir, name)).catch(() => [] as string[]);
    for (const id of runs) {
      if (id === 'latest') continue;
      try {
        const r = JSON.parse(await readFile(join(runsDir, name, id, 'stages.json'), 'utf8')) as RunResult;
        for (const st of r.stages) if (st.key) keep.add(st.key);
      } catch {
        // not a run folder
      }
    }
  }
  return keep;
}

/** `kdq cache ls`: one line per entry, then totals and what kdq left alone. Never writes. */
export async function cacheLs(opts: CacheAdminOptions): Promise<string> {
  if ((await checkReadableRoot(opts.cacheDir)) === 'missing') return `no cache at ${opts.cacheDir} (nothing has been cached there yet)`;
  const cache = new Cache(opts.cacheDir);
  const [entries, foreign] = [await cache.list(), await cache.foreign()];
  const keep = await referencedKeys(opts.runsDir);
  const lines = entries.map((e) => {
    const meta = e.meta as { stage?: string };
    return `${e.key.slice(0, 12)}  ${String(e.bytes).padStart(10)} B  ${e.createdAt}  ${keep.has(e.key) ? 'used  ' : 'unused'}  ${meta.stage ?? ''}`;
  });
  const total = entries.reduce((a, e) => a + e.bytes, 0);
  lines.push(entries.length === 0 ? `cache ${cache.dir} is empty` : `${entries.length} entries, ${total} bytes in ${cache.dir}`);
  return [...lines, ...leftAlone(foreign)].join('\n');
}

/** A run folder of one experiment: its id and its stages.json. */
interface ExperimentRun {
  id: string;
  stages: StageResult[];
}

/** The run folders of experiment `name` under `runsDir` (those with a readable stages.json), oldest first. */
async function experimentRuns(runsDir: string, name: string): Promise<ExperimentRun[]> {
  const base = join(runsDir, name);
  const out: ExperimentRun[] = [];
  for (const id of (await readdir(base).catch(() => [] as string[])).sort()) {
    if (id === 'latest' || id.startsWith('.')) continue;
    const st = await readStages(join(base, id), runsDir);
    if (st) out.push({ id, stages: st.stages });
  }
  return out;
}

/**
 * `kdq cache ls NAME`: the cache entries of one experiment's stages, one row per stage and key its
 * run folders refer to (the latest run's first), with the entry's size and last use, or that it is
 * not in the cache (gc'd, damaged, or a stage that is never cached). Never writes.
 */
export async function cacheLsExperiment(opts: CacheAdminOptions & { experiment: string }): Promise<string> {
  const runs = await experimentRuns(opts.runsDir, opts.experiment);
  if (runs.length === 0) {
    const names = (await readdir(opts.runsDir).catch(() => [] as string[])).filter((n) => !n.startsWith('.')).sort();
    const hint = suggest(opts.experiment, names);
    throw new KdqError(
      'E_USAGE',
      `no run of experiment '${opts.experiment}' under ${opts.runsDir}${hint ? `; did you mean '${hint}'?` : ''}${names.length > 0 ? ` (experiments there: ${names.slice(0, 12).join(', ')}${names.length > 12 ? ', ...' : ''}; a sweep's points are experiments of their own, NAME-p1, ...)` : ''}`,
    );
  }
  const latestId = await readlink(join(opts.runsDir, opts.experiment, 'latest')).catch(() => runs.at(-1)!.id);
  const latest = runs.find((r) => r.id === latestId) ?? runs.at(-1)!;
  // One row per (stage, key): the latest run's in walk order, then earlier runs' newest first.
  const rows = new Map<string, { id: string; key: string; runs: number; inLatest: boolean }>();
  for (const run of [latest, ...runs.filter((r) => r !== latest).reverse()]) {
    for (const st of run.stages) {
      const k = `${st.id}\0${st.key}`;
      const row = rows.get(k) ?? { id: st.id, key: st.key, runs: 0, inLatest: run === latest };
      row.runs++;
      rows.set(k, row);
    }
  }
  const entries = (await checkReadableRoot(opts.cacheDir)) === 'missing' ? new Map() : new Map((await new Cache(opts.cacheDir).list()).map((e) => [e.key, e]));
  const table = [['stage', 'key', 'size', 'last used', 'runs']];
  let bytes = 0;
  let cached = 0;
  for (const r of rows.values()) {
    const e = entries.get(r.key);
    if (e) {
      bytes += e.bytes;
      cached++;
    }
    table.push([
      r.id,
      r.key === '' ? '-' : r.key.slice(0, 12),
      e ? bytesText(e.bytes) : 'not in cache',
      e ? new Date(e.lastUsedMs).toISOString().slice(0, 16).replace('T', ' ') : '-',
      `${r.runs} of ${runs.length}${r.inLatest ? ', latest' : ''}`,
    ]);
  }
  const widths = table[0]!.map((_, c) => Math.max(...table.map((row) => row[c]!.length)));
  const lines = table.map((row) =>
    row
      .map((x, c) => x.padEnd(widths[c]!))
      .join('  ')
      .trimEnd(),
  );
  lines.push(
    `${opts.experiment}: ${runs.length} run${runs.length === 1 ? '' : 's'} (latest ${latest.id}); ${cached} of ${rows.size} stage outputs in the cache, ${bytesText(bytes)} in ${opts.cacheDir}` +
      (cached < rows.size ? '; the others were removed (kdq cache gc, verify) or are never cached (a run recomputes them)' : ''),
  );
  return lines.join('\n');
}

export interface GcOptions extends CacheAdminOptions {
  /** Also drop entries not used for this long (referenced or kept for a failed run). */
  olderThanMs?: number;
  now?: number;
}

/**
 * `kdq cache gc`, in this order: deletes the partial run folders of dead processes (a run that
 * failed on a full disk leaves one), then cache entries that no run folder refers to, except those
 * a live or failed run computed or used (they are younger than its start), then abandoned temp
 * folders and locks. `olderThanMs` also drops entries not used for that long, whatever refers to
 * them, and the failed runs' entries among them; a live run's entries are never dropped.
 */
export async function cacheGc(opts: GcOptions): Promise<string> {
  const now = opts.now ?? Date.now();
  const lines: string[] = [];
  const partials = await removeAbandonedRuns(opts.runsDir);
  if (partials.length > 0) {
    const bytes = partials.reduce((n, p) => n + p.bytes, 0);
    lines.push(`removed ${partials.length} unfinished run folder(s) of processes that are gone, freed ${bytes} bytes:`);
    lines.push(...partials.map((p) => `  ${p.path}`));
  }
  const root = await inspectCacheRoot(opts.cacheDir);
  if (root.kind === 'missing') return [...lines, `no cache at ${opts.cacheDir}: nothing else to remove`].join('\n');
  if (root.kind === 'not-a-folder') throw notAFolder(opts.cacheDir);
  const cache = new Cache(opts.cacheDir);
  await cache.claim(); // refuses a folder that is not kdq's before anything is read as an entry
  const runs = await readUnfinishedRuns(cache.dir);
  const live = runs.filter((r) => r.state === 'running');
  const failed = runs.filter((r) => r.state !== 'running');
  const r = await cache.gc({
    referenced: await referencedKeys(opts.runsDir),
    inUseSinceMs: live[0]?.startedMs,
    failedRunSinceMs: failed[0]?.startedMs,
    olderThanMs: opts.olderThanMs,
    now,
  });
  lines.push(`removed ${r.removed.length} entries and ${r.tmpRemoved} abandoned temp folder(s), freed ${r.freedBytes} bytes`);
  const kept = [`${r.keptReferenced} entries that run folders use`];
  if (r.keptForRuns > 0) kept.push(`${r.keptForRuns} entries computed or used since the start of ${describeRuns(live, failed)}`);
  lines.push(`kept ${kept.join(', and ')}`);
  if (failed.length > 0 && r.keptForRuns > 0) {
    lines.push(`  (a failed run's entries are kept until it is rerun and finishes; 'kdq cache gc --older-than AGE' drops those not used for AGE)`);
  }
  return [...lines, ...leftAlone(r.foreign)].join('\n');
}

/** `kdq cache verify`: re-hashes every entry, removes the damaged ones, and says what it found. */
export async function cacheVerify(opts: CacheAdminOptions, onWarn?: (msg: string) => void): Promise<{ text: string; damaged: number }> {
  const root = await inspectCacheRoot(opts.cacheDir);
  if (root.kind === 'missing') return { text: `no cache at ${opts.cacheDir}: nothing to verify`, damaged: 0 };
  if (root.kind === 'not-a-folder') throw notAFolder(opts.cacheDir);
  const cache = new Cache(opts.cacheDir, { onWarn });
  const r = await cache.verify();
  const lines = [`verified ${r.intact + r.removed.length} entries: ${r.intact} intact (${r.bytes} bytes re-hashed), ${r.removed.length} damaged and removed`];
  for (const d of r.removed) lines.push(`  ${d.key.slice(0, 12)}: ${d.problems.join('; ')}`);
  if (r.removed.length > 0) lines.push('the next run recomputes the stages whose entries were removed');
  return { text: [...lines, ...leftAlone(r.foreign)].join('\n'), damaged: r.removed.length };
}

function describeRuns(live: UnfinishedRun[], failed: UnfinishedRun[]): string {
  const one = (r: UnfinishedRun, what: string) => `${what} of ${r.record.experiment} (pid ${r.record.pid}, started ${r.record.startedAt})`;
  const parts = [
    ...live.slice(0, 1).map((r) => one(r, 'the run in progress')),
    ...failed.slice(0, 1).map((r) => one(r, r.state === 'failed' ? 'the failed run' : `the run on ${r.record.host}`)),
  ];
  const more = live.length + failed.length - parts.length;
  return parts.join(' and ') + (more > 0 ? ` (and ${more} later unfinished run(s))` : '');
}

function leftAlone(foreign: string[]): string[] {
  if (foreign.length === 0) return [];
  const shown = foreign.slice(0, 10).map((p) => `  ${p}`);
  if (foreign.length > 10) shown.push(`  ... and ${foreign.length - 10} more`);
  return [
    `left alone ${foreign.length} path(s) kdq did not make (no valid ${MANIFEST_FILE} or not named by kdq); delete them by hand if they are yours:`,
    ...shown,
  ];
}
