/**
 * `kdq graph`: the stage DAG as text (one line per stage in topological order with its deps) or
 * as Graphviz dot; with a RunResult (`--explain` / a dry run), each stage's status and reason.
 */
import { topologicalOrder, type StageGraph } from './graph.ts';
import type { RunResult, StageResult, StageStatus } from './results.ts';

const COLORS: Record<StageStatus, string> = {
  cached: 'palegreen',
  ran: 'lightblue',
  'would-run': 'gold',
  skipped: 'lightgrey',
  failed: 'salmon',
};

export function formatGraph(graph: StageGraph, opts: { dot?: boolean; explain?: RunResult } = {}): string {
  const order = topologicalOrder(graph);
  const results = new Map<string, StageResult>((opts.explain?.stages ?? []).map((s) => [s.id, s]));
  if (opts.dot) {
    const q = (s: string) => JSON.stringify(s);
    const lines = ['digraph kdq {', '  rankdir=LR;', '  node [shape=box, style="rounded,filled", fillcolor=white];'];
    for (const id of order) {
      const r = results.get(id);
      const label = r ? `${id}\\n${r.status}${r.key ? ` ${r.key.slice(0, 8)}` : ''}` : id;
      lines.push(`  ${q(id)} [label="${label.replace(/"/g, '\\"')}"${r ? `, fillcolor=${COLORS[r.status]}` : ''}];`);
    }
    for (const id of order) for (const d of graph.dependencies[id] ?? []) lines.push(`  ${q(d)} -> ${q(id)};`);
    for (const id of order) for (const a of graph.stages[id]?.after ?? []) lines.push(`  ${q(a)} -> ${q(id)} [style=dashed];`);
    lines.push('}');
    return `${lines.join('\n')}\n`;
  }
  const width = Math.max(...order.map((id) => id.length));
  const lines = order.map((id) => {
    const deps = graph.dependencies[id] ?? [];
    const after = graph.stages[id]?.after ?? [];
    let line = `${id.padEnd(width)}  <- ${deps.length > 0 ? deps.join(', ') : '(none)'}${after.length > 0 ? ` (after ${after.join(', ')})` : ''}`;
    const r = results.get(id);
    if (r) line += `\n${' '.repeat(width)}     ${r.status}${r.key ? ` ${r.key.slice(0, 12)}` : ''}: ${r.reason}${r.error ? ` (${r.error})` : ''}`;
    return line;
  });
  return `${lines.join('\n')}\n`;
}
