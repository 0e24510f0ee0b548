/**
 * The stage DAG as plain, serialisable data (Nx's task graph): the planner builds it, the hasher
 * and the walker read it, `kdq graph` prints it. Behaviour lives in the small functions below.
 */
import { KdqError } from '../errors.ts';
import type { StageKind } from '../names.ts';

export interface Stage {
  /** Unique within a graph, e.g. `teacher@s1`, `export:student_int8@s1`, `report`. */
  id: string;
  /** Which StageDefinition runs this stage. */
  kind: StageKind;
  /** This stage's slice of the config, defaults resolved; the only config the stage sees and the one that is hashed. */
  config: unknown;
  /** Ids of the stages whose outputs this stage reads. */
  deps: string[];
  /** Seed this stage belongs to, if any. */
  seed?: number;
  /** Model role the stage produces or evaluates, e.g. 'teacher' | 'student' | 'student_baseline' | 'student_int8'. */
  role?: string;
}

export interface StageGraph {
  /** Ids of the stages without dependencies, in plan order. */
  roots: string[];
  /** Every stage by id, in plan order (the walker keeps this order among independent stages). */
  stages: Record<string, Stage>;
  /** Stage id -> ids of the stages it depends on (same lists as `Stage.deps`). */
  dependencies: Record<string, string[]>;
}

/** Builds a graph from stages in plan order; throws on duplicate ids and unknown dependencies. */
export function buildGraph(stages: Stage[]): StageGraph {
  const graph: StageGraph = { roots: [], stages: {}, dependencies: {} };
  for (const s of stages) {
    if (graph.stages[s.id]) {
      throw new KdqError('E_INTERNAL', `stage id "${s.id}" is planned twice; stage ids must be unique`);
    }
    graph.stages[s.id] = s;
    graph.dependencies[s.id] = [...s.deps];
    if (s.deps.length === 0) graph.roots.push(s.id);
  }
  topologicalOrder(graph); // validates deps and rejects cycles now rather than mid-run
  return graph;
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
    const deps = graph.dependencies[id] ?? [];
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
      throw new KdqError(
        'E_USAGE',
        `--force-stage "${sel}" matches no stage; use a stage id or kind from: ${Object.keys(graph.stages).join(', ')}`,
      );
    }
    for (const h of hits) out.add(h.id);
  }
  return out;
}

/** The graph of `ids` and everything they depend on, directly or not, in plan order. */
export function subgraphFor(graph: StageGraph, ids: Iterable<string>): StageGraph {
  const keep = new Set<string>();
  const queue = [...ids];
  while (queue.length > 0) {
    const id = queue.pop() as string;
    if (keep.has(id)) continue;
    if (!graph.stages[id]) throw new KdqError('E_INTERNAL', `stage "${id}" is not in the graph`);
    keep.add(id);
    queue.push(...(graph.dependencies[id] ?? []));
  }
  return buildGraph(Object.values(graph.stages).filter((s) => keep.has(s.id)));
}
