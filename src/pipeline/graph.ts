/**
 * The stage DAG as plain, serialisable data (Nx's task graph): the planner builds it, the hasher
 * and the walker read it, `kdq graph` prints it. Behaviour lives in the small functions below.
 */
import { KdqError } from '../errors.ts';

export interface Stage<K extends string = string, C = unknown> {
  /** Unique within a graph, e.g. `teacher@s1`, `export:student_int8@s1`, `report`. */
  id: string;
  /** Which StageDefinition runs this stage. */
  kind: K;
  /** This stage's slice of the config, defaults resolved; the only config the stage sees and the one that is hashed. */
  config: C;
  /** Input name -> id of the stage whose output folder the stage reads under that name (`inputs.model`). */
  inputs: Record<string, string>;
  /**
   * Ids of the stages whose keys enter this stage's key: the inputs, except an input that is already
   * an ancestor of another dep (its key is in that dep's key), which the planner may leave out.
   */
  deps: string[];
  /**
   * Ids of stages that must have succeeded before this one runs although it reads nothing of
   * theirs, so their keys stay out of its key (an order-only prerequisite, as in make): a check of
   * the user's input (an imported teacher) that must stop the run before any training starts,
   * without tying the baseline's key to the teacher. Absent for almost every stage.
   */
  after?: string[];
  /** Seed this stage belongs to, if any. */
  seed?: number;
  /** What the stage's outputs are named after (a model role for kdq's stages); part of its key. */
  role?: string;
}

export interface StageGraph<S extends Stage = Stage> {
  /** Ids of the stages without dependencies, in plan order. */
  roots: string[];
  /** Every stage by id, in plan order (the walker keeps this order among independent stages). */
  stages: Record<string, S>;
  /** Stage id -> ids of the stages it depends on (same lists as `Stage.deps`). */
  dependencies: Record<string, string[]>;
  /** Id of the stage whose output folder lists what a run publishes (its PUBLISH_FILE), if any. */
  publish?: string;
}

/**
 * Builds a graph from stages in plan order; throws on duplicate ids, unknown dependencies, and an
 * input that is neither a dep nor an ancestor of one (its key would be missing from the stage's).
 */
export function buildGraph<S extends Stage>(stages: S[], opts: { publish?: string } = {}): StageGraph<S> {
  const graph: StageGraph<S> = { roots: [], stages: {}, dependencies: {}, ...(opts.publish !== undefined ? { publish: opts.publish } : {}) };
  for (const s of stages) {
    if (graph.stages[s.id]) {
      throw new KdqError('E_INTERNAL', `stage id "${s.id}" is planned twice; stage ids must be unique`);
    }
    graph.stages[s.id] = s;
    graph.dependencies[s.id] = [...s.deps];
    if (s.deps.length === 0) graph.roots.push(s.id);
  }
  topologicalOrder(graph); // validates deps and rejects cycles now rather than mid-run
  for (const s of stages) {
    for (const [name, id] of Object.entries(s.inputs)) {
      if (s.deps.includes(id)) continue;
      if (!graph.stages[id] || !s.deps.some((d) => ancestors(graph, d).has(id))) {
        throw new KdqError('E_INTERNAL', `stage "${s.id}" reads input ${name} = "${id}", which is neither among its deps nor upstream of one; add it to deps`);
      }
    }
    for (const d of s.deps) {
      if (!Object.values(s.inputs).includes(d)) throw new KdqError('E_INTERNAL', `stage "${s.id}" depends on "${d}" without naming it as an input`);
    }
    for (const a of s.after ?? []) {
      if (s.deps.includes(a)) throw new KdqError('E_INTERNAL', `stage "${s.id}" lists "${a}" both in deps and in after; a dependency already runs first`);
    }
  }
  if (opts.publish !== undefined && !graph.stages[opts.publish]) {
    throw new KdqError('E_INTERNAL', `the publishing stage "${opts.publish}" is not in the graph`);
  }
  return graph;
}

/** Every stage `id` depends on, directly or not. */
export function ancestors(graph: StageGraph, id: string): Set<string> {
  const out = new Set<string>();
  const queue = [...(graph.dependencies[id] ?? [])];
  while (queue.length > 0) {
    const d = queue.pop() as string;
    if (out.has(d)) continue;
    out.add(d);
    queue.push(...(graph.dependencies[d] ?? []));
  }
  return out;
}

/**
 * Stage ids with every stage after all of its dependencies. Among stages that are ready at the
 * same time, plan order wins, so the order is deterministic and reads like the experiment file.
 */
export function topologicalOrder(graph: StageGraph): string[] {
  const ids = Object.keys(graph.stages);
  const pending = new Map<string, number>();
  const dependents = new Map<string, string[]>();
  for (const id of ids) {
    const deps = prerequisites(graph, id);
    for (const d of deps) {
      if (!graph.stages[d]) {
        throw new KdqError('E_INTERNAL', `stage "${id}" depends on "${d}", which is not in the graph; plan it or drop the dependency`);
      }
      const list = dependents.get(d) ?? [];
      list.push(id);
      dependents.set(d, list);
    }
    pending.set(id, new Set(deps).size);
  }
  const order: string[] = [];
  const done = new Set<string>();
  // Repeated scans in plan order keep the result stable; graphs have tens of stages, so O(n^2) is fine.
  while (order.length < ids.length) {
    const next = ids.find((id) => !done.has(id) && pending.get(id) === 0);
    if (next === undefined) {
      const stuck = ids.filter((id) => !done.has(id));
      throw new KdqError('E_INTERNAL', `the stage graph has a cycle among: ${stuck.join(', ')}`);
    }
    done.add(next);
    order.push(next);
    for (const d of new Set(dependents.get(next) ?? [])) pending.set(d, (pending.get(d) ?? 0) - 1);
  }
  return order;
}

/** What must finish before `id` runs: its dependencies, then its order-only prerequisites (`after`). */
export function prerequisites(graph: StageGraph, id: string): string[] {
  return [...(graph.dependencies[id] ?? []), ...(graph.stages[id]?.after ?? [])];
}

/** The given stages plus everything that depends on them, directly or not. */
export function withDependents(graph: StageGraph, ids: Iterable<string>): Set<string> {
  const out = new Set<string>();
  const queue = [...ids];
  while (queue.length > 0) {
    const id = queue.pop() as string;
    if (out.has(id)) continue;
    out.add(id);
    for (const [other, deps] of Object.entries(graph.dependencies)) {
      if (deps.includes(id) && !out.has(other)) queue.push(other);
    }
  }
  return out;
}

/**
 * Resolves `--force-stage` selectors: each matches a stage id exactly or every stage of a kind.
 * Unknown selectors throw, listing the ids, so a typo never silently forces nothing.
 */
export function selectStages(graph: StageGraph, selectors: string[]): Set<string> {
  const out = new Set<string>();
  for (const sel of selectors) {
    const hits = Object.values(graph.stages).filter((s) => s.id === sel || s.kind === sel);
    if (hits.length === 0) {
      throw new KdqError('E_USAGE', `--force-stage "${sel}" matches no stage; use a stage id or kind from: ${Object.keys(graph.stages).join(', ')}`);
    }
    for (const h of hits) out.add(h.id);
  }
  return out;
}

/** The graph of `ids` and everything they depend on or must run after, directly or not, in plan order. */
export function subgraphFor<S extends Stage>(graph: StageGraph<S>, ids: Iterable<string>): StageGraph<S> {
  const keep = new Set<string>();
  const queue = [...ids];
  for (const id of queue) if (!graph.stages[id]) throw new KdqError('E_INTERNAL', `stage "${id}" is not in the graph`);
  while (queue.length > 0) {
    const id = queue.pop() as string;
    if (keep.has(id)) continue;
    keep.add(id);
    queue.push(...prerequisites(graph, id));
  }
  return buildGraph(Object.values(graph.stages).filter((s) => keep.has(s.id)));
}
