/**
 * `npm run bench -- --runs-table`: wall time of `kdq runs` over twenty run folders of three
 * experiments and a four-point sweep (written without training: listing reads only their small
 * files), sorted and filtered, against bare Node start-up; median of several runs, appended to
 * bench/results/runs-table.json. Run `npm run build` first to time what users run (bin/kdq.mjs uses
 * dist/ when it is fresh, and src/ through tsx otherwise; the entry says which).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { appendHistory } from './history.ts';
import { twentyRuns, writeFakeRun } from '../test/runs/fixtures.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS = path.join(ROOT, 'bench', 'results', 'runs-table.json');

function wallMs(args: string[]): number {
  const t0 = performance.now();
  execFileSync(process.execPath, args, { cwd: ROOT, stdio: 'ignore' });
  return performance.now() - t0;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

/** Whether bin/kdq.mjs will run dist/ (as in an installed package) or src/ through tsx. */
function entry(): 'dist' | 'src (tsx)' {
  try {
    return statSync(path.join(ROOT, 'dist', '.stamp')).mtimeMs >= newest(path.join(ROOT, 'src')) ? 'dist' : 'src (tsx)';
  } catch {
    return 'src (tsx)';
  }
}

export async function benchRunsTable(runs = 7): Promise<number> {
  const runsDir = mkdtempSync(path.join(os.tmpdir(), 'kdq-bench-runs-'));
  try {
    for (const r of twentyRuns()) await writeFakeRun(runsDir, r);
    const kdq = [path.join(ROOT, 'bin', 'kdq.mjs'), 'runs', '--runs-dir', runsDir, '--sort', '-int8_acc', '--where', 'kd_gain > -0.02'];
    wallMs(kdq); // warm the file cache
    const load0 = os.loadavg()[0];
    const listed: number[] = [];
    const node: number[] = [];
    for (let i = 0; i < runs; i++) {
      node.push(wallMs(['-e', '']));
      listed.push(wallMs(kdq));
    }
    const result = {
      date: new Date().toISOString(),
      entry: entry(),
      runFolders: 20,
      loadavg: [load0, ...os.loadavg()],
      kdqRunsMs: { runs: listed.map(Math.round), median: Math.round(median(listed)) },
      nodeStartMs: { runs: node.map(Math.round), median: Math.round(median(node)) },
    };
    appendHistory(RESULTS, "Wall time of 'kdq runs' over 20 run folders (3 experiments, a 4-point sweep), sorted and filtered, vs bare Node start-up", result);
    process.stderr.write(
      `  kdq runs (${result.entry}): median ${result.kdqRunsMs.median} ms (node alone ${result.nodeStartMs.median} ms), load ${load0.toFixed(2)}\n`,
    );
    return 0;
  } finally {
    rmSync(runsDir, { recursive: true, force: true });
  }
}
