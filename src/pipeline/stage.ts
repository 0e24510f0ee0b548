/**
 * The contract between the walker and a stage implementation (src/stages/): what a stage is given
 * and what it must do. A stage reads its inputs' folders, writes its outputs into `outDir`, and
 * never touches the cache itself.
 */
import type { StageKind } from '../names.ts';
import type { Stage } from './graph.ts';
import type { StageEnv } from './hash.ts';

export interface StageContext<C = unknown> {
  stage: Stage;
  /** `stage.config`, typed for the definition. */
  config: C;
  /** This stage's key (hex sha256); handy as a memo key that is the same whenever the outputs are. */
  key: string;
  /** Dep id -> its output folder (a cache entry or a scratch folder); read-only. */
  inputs: Record<string, string>;
  /** Dep id -> that dependency's key, e.g. to find the dataset it loaded in `memo`. */
  inputKeys: Record<string, string>;
  /** Empty temp folder: write outputs here; committed atomically when `run` resolves. */
  outDir: string;
  /**
   * In-process values shared by the stages of one run (e.g. the loaded dataset); never cached.
   * A dependency that was a cache hit did not run, so read through a loader that fills the memo
   * from the dependency's folder when the value is missing.
   */
  memo: Map<string, unknown>;
  /** Progress output, passed to `onEvent` as a `log` event. */
  log(msg: string): void;
  /** Aborted when the run is cancelled; long loops should check it. */
  signal: AbortSignal;
}

export interface StageDefinition<C = unknown> {
  kind: StageKind;
  /** Bump when the output for the same input changes (a new algorithm, a fixed bug). */
  version: number;
  /** DVC-style explicit predicate: false for stages whose outputs are cheap or must not be cached (report). */
  cacheable: boolean;
  /** Extra key material, e.g. the data's content hash; must be cheap, it runs on every run. */
  fingerprint?(config: C, env: StageEnv): Promise<Record<string, string>>;
  run(ctx: StageContext<C>): Promise<void>;
}

/** Stage definitions by kind; a graph may only use kinds present here. */
export type StageDefinitions = Partial<Record<StageKind, StageDefinition>>;
