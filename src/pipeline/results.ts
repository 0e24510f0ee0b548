/** What walking a graph produces: one result per stage, and the events a caller can show as it goes. */
import type { LockInfo } from './lock.ts';

export type StageStatus = 'cached' | 'ran' | 'would-run' | 'skipped' | 'failed';

export interface StageResult {
  id: string;
  kind: string;
  /** Hex sha256; empty when it could not be computed (a dependency's fingerprint failed). */
  key: string;
  /** Hash of each key part (see StageKey). */
  details: Record<string, string>;
  /** The stage's config slice, so a later run can name the keys that changed, not only that the config did. */
  config?: unknown;
  status: StageStatus;
  /** Wall time spent on this stage by this run (hashing, cache lookup, running, committing). */
  seconds: number;
  /** The stage's output folder: its cache entry, or a scratch folder for non-cacheable stages; null if none. */
  outDir: string | null;
  /** Why it has this status, e.g. `no entry for key (config changed)`, `dependency teacher@s1 failed`. */
  reason: string;
  /** The error message of a failed stage. */
  error?: string;
}

export interface RunResult {
  ok: boolean;
  seconds: number;
  /** One result per stage, in the order they were walked. */
  stages: StageResult[];
}

export type StageEvent =
  | { type: 'start'; id: string; key: string; reason: string }
  | { type: 'wait'; id: string; key: string; holder: LockInfo | null }
  | { type: 'log'; id: string; message: string }
  | { type: 'end'; result: StageResult };
