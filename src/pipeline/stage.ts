/**
 * The contract between the walker and a stage implementation: what a stage is given and what it
 * must do. A stage reads the folders of its named inputs, writes its outputs into `outDir`, and
 * never touches the cache or the graph itself.
 */
import type { Stage } from './graph.ts';
import type { KeyEnv } from './hash.ts';

/** One input of a stage, as the planner named it: the upstream stage and its output folder. */
export interface StageInput<C = unknown> {
  id: string;
  kind: string;
  /** The upstream stage's config (plain data; e.g. the teacher's layers, to rebuild it). */
  config: C;
  seed?: number;
  role?: string;
  /** Its output folder (a cache entry or a scratch folder); read-only. */
  dir: string;
  /** Its key (hex sha256). */
  key: string;
}

/** Input name -> the config type of the stage planned under that name. */
export type InputConfigs = Record<string, unknown>;

export type StageInputs<I extends InputConfigs> = { [N in keyof I]: StageInput<Exclude<I[N], undefined>> };

export interface StageContext<S extends Stage = Stage, I extends InputConfigs = InputConfigs> {
  stage: S;
  /** `stage.config`. */
  config: S['config'];
  /** This stage's key (hex sha256). */
  key: string;
  /** The stage's inputs by the names the planner gave them. */
  inputs: StageInputs<I>;
  /** Empty temp folder: write outputs here; committed atomically when `run` resolves. */
  outDir: string;
  /** Progress output, passed to `onEvent` as a `log` event. */
  log(msg: string): void;
  /** Aborted when the run is cancelled; long loops should check it. */
  signal: AbortSignal;
}

export interface StageDefinition<S extends Stage = Stage, I extends InputConfigs = InputConfigs> {
  kind: S['kind'];
  /** Bump when the output for the same input changes (a new algorithm, a fixed bug). */
  version: number;
  /** DVC-style explicit predicate: false for stages whose outputs are cheap or must not be cached (report). */
  cacheable: boolean;
  /** Extra key material, e.g. the data's content hash; must be cheap, it runs on every run. */
  fingerprint?(config: S['config'], env: KeyEnv): Promise<Record<string, string>>;
  run(ctx: StageContext<S, I>): Promise<void>;
}

/** Stage definitions by kind; a graph may only use kinds present here. */
export type StageDefinitions = Partial<Record<string, StageDefinition>>;
