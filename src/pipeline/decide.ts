/**
 * What the walker does with one stage, decided from facts the walker gathered (keys, a cache
 * lookup, what was forced, how its dependencies ended): pure, so every status and reason is
 * unit-tested without a cache, a lock or a stage.
 */
import { changedPaths } from '../util/flatten.ts';
import { diffDetails } from './hash.ts';
import type { StageResult } from './results.ts';

/** Why a stage is rerun regardless of the cache. */
export type Forced = 'force' | 'force-stage' | 'dependent' | null;

export interface StageFacts {
  /** The run was cancelled before this stage. */
  cancelled: boolean;
  /** The first dependency that failed or was skipped, if any. */
  blocked: { id: string; status: 'failed' | 'skipped' } | null;
  /** The key could not be computed: the fingerprint's error. */
  keyError: unknown;
  forced: Forced;
  cacheable: boolean;
  /** Whether the cache has an entry for the key; only looked up when it can matter (see `needsLookup`). */
  hit: boolean;
  dryRun: boolean;
  /** The key's parts now, and this stage's result in the last run, to say which part changed. */
  details: Record<string, string>;
  key: string;
  config?: unknown;
  previous?: Pick<StageResult, 'key' | 'details' | 'config'>;
}

export type Decision =
  | { action: 'skip'; reason: string }
  | { action: 'fail'; reason: string; error: unknown }
  | { action: 'reuse'; reason: string }
  | { action: 'plan'; reason: string }
  | { action: 'run'; reason: string };

/** Whether the answer depends on a cache lookup: a keyed, cacheable stage that nothing forces or blocks. */
export function needsLookup(f: Omit<StageFacts, 'hit'>): boolean {
  return !f.cancelled && f.blocked === null && f.keyError === null && f.forced === null && f.cacheable;
}

export function decide(f: StageFacts): Decision {
  if (f.cancelled) return { action: 'skip', reason: 'run cancelled' };
  // A fingerprint that fails (a missing data file) fails the stage like its run would, unless a
  // dependency already failed: then that is the reason.
  if (f.blocked === null && f.keyError !== null) return { action: 'fail', reason: 'stage threw an error', error: f.keyError };
  if (f.blocked !== null) return { action: 'skip', reason: `dependency ${f.blocked.id} ${f.blocked.status === 'failed' ? 'failed' : 'was skipped'}` };
  const why = forcedReason(f.forced) ?? (f.cacheable ? null : 'not cacheable');
  if (why === null && f.hit) return { action: 'reuse', reason: 'cache hit' };
  const reason = why ?? missReason(f.key, f.details, f.previous, f.config);
  return f.dryRun ? { action: 'plan', reason } : { action: 'run', reason };
}

function forcedReason(f: Forced): string | null {
  if (f === 'force') return 'forced (--force)';
  if (f === 'force-stage') return 'forced (--force-stage)';
  if (f === 'dependent') return 'forced (depends on a forced stage)';
  return null;
}

/**
 * Why a cacheable stage has no entry, naming the key parts that differ from the last run, and for
 * a changed config the keys that changed (`config changed: distillation.temperature 5 -> 2`).
 */
export function missReason(
  key: string,
  details: Record<string, string>,
  before: Pick<StageResult, 'key' | 'details' | 'config'> | undefined,
  config?: unknown,
): string {
  if (!before || !before.key) return 'no entry for key (no earlier run to compare with)';
  if (before.key === key) return 'no entry for key (same key as the last run; its entry was removed)';
  const parts = diffDetails(details, before.details).map((part) =>
    part === 'config changed' && before.config !== undefined && config !== undefined ? configChange(before.config, config) : part,
  );
  return `no entry for key (${parts.join(', ')})`;
}

/** At most three changed config keys with their old and new values, and how many more. */
function configChange(before: unknown, now: unknown): string {
  const rows = changedPaths(before, now);
  if (rows.length === 0) return 'config changed';
  const show = (v: unknown) => (v === undefined ? '(unset)' : JSON.stringify(v));
  const listed = rows.slice(0, 3).map((r) => `${r.path} ${show(r.old)} -> ${show(r.new)}`);
  return `config changed: ${listed.join('; ')}${rows.length > 3 ? ` and ${rows.length - 3} more` : ''}`;
}
