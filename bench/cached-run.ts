/**
 * `npm run bench -- --cached`: wall time of a `kdq run` whose stages are all cached, against the
 * time Node itself takes to start, median of several runs; appended to bench/results/pipeline.json.
 * The first run (not timed) fills a private cache by training kd-mnist-quick.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { appendHistory } from './history.ts';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS = path.join(ROOT, 'bench', 'results', 'pipeline.json');
const EXPERIMENT = 'experiments/kd-mnist-quick.yaml';

function wallMs(args: string[]): number {
  const t0 = performance.now();
  execFileSync(process.execPath, args, { cwd: ROOT, stdio: 'ignore' });
  return performance.now() - t0;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function benchCachedRun(runs = 5): Promise<number> {
  const runsDir = mkdtempSync(path.join(os.tmpdir(), 'kdq-bench-'));
  try {
    const kdq = [path.join(ROOT, 'bin', 'kdq.mjs'), 'run', EXPERIMENT, '--runs-dir', runsDir];
    process.stderr.write(`kdq bench: filling a cache with ${EXPERIMENT} (trains once)\n`);
    wallMs(kdq);
    const load0 = os.loadavg()[0];
    const cached: number[] = [];
    const node: number[] = [];
    for (let i = 0; i < runs; i++) {
      node.push(wallMs(['-e', '']));
      cached.push(wallMs(kdq));
    }
    const entry = {
      date: new Date().toISOString(),
      experiment: EXPERIMENT,
      loadavg: [load0, ...os.loadavg()],
      cachedRunMs: { runs: cached.map(Math.round), median: Math.round(median(cached)) },
      nodeStartMs: { runs: node.map(Math.round), median: Math.round(median(node)) },
      ratio: Number((median(cached) / median(node)).toFixed(2)),
    };
    appendHistory(RESULTS, 'Wall time of a fully cached kdq run vs bare Node start-up', entry);
    process.stderr.write(`  fully cached run: median ${entry.cachedRunMs.median} ms (node alone ${entry.nodeStartMs.median} ms)\n`);
    return 0;
  } finally {
    rmSync(runsDir, { recursive: true, force: true });
  }
}
