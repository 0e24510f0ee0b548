/**
 * `npm run bench -- --sweep-jobs`: wall time of a 4-point temperature sweep of the micro experiment
 * (test/executor/micro.yaml) at `--jobs 1` and at `--jobs 2`, each from an empty cache, in one
 * invocation so both see the same machine; appended to bench/results/sweep-jobs.json with the
 * ratio and the load average before and after (the machine is shared, so read the ratio with it).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { appendHistory } from './history.ts';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS = path.join(ROOT, 'bench', 'results', 'sweep-jobs.json');
const EXPERIMENT = 'test/executor/micro.yaml';
const SWEEP = 'distillation.temperature=1,2,5,10';

function sweepMs(jobs: number): number {
  const runsDir = mkdtempSync(path.join(os.tmpdir(), 'kdq-bench-sweep-'));
  try {
    const t0 = performance.now();
    execFileSync(process.execPath, [path.join(ROOT, 'bin', 'kdq.mjs'), 'run', EXPERIMENT, '--sweep', SWEEP, '--jobs', String(jobs), '--runs-dir', runsDir], {
      cwd: ROOT,
      stdio: 'ignore',
    });
    return performance.now() - t0;
  } finally {
    rmSync(runsDir, { recursive: true, force: true });
  }
}

export async function benchSweepJobs(): Promise<number> {
  const load0 = os.loadavg();
  process.stderr.write(`kdq bench: 4-point sweep of ${EXPERIMENT} at --jobs 1, then --jobs 2 (load ${load0[0]!.toFixed(2)})\n`);
  const jobs1 = sweepMs(1);
  const jobs2 = sweepMs(2);
  const entry = {
    date: new Date().toISOString(),
    experiment: EXPERIMENT,
    sweep: SWEEP,
    cpus: os.cpus().length,
    loadavgBefore: load0.map((x) => Number(x.toFixed(2))),
    loadavgAfter: os.loadavg().map((x) => Number(x.toFixed(2))),
    jobs1Ms: Math.round(jobs1),
    jobs2Ms: Math.round(jobs2),
    speedup: Number((jobs1 / jobs2).toFixed(2)),
  };
  appendHistory(RESULTS, 'Wall time of a 4-point sweep from an empty cache at --jobs 1 vs --jobs 2; speedup = jobs1Ms / jobs2Ms', entry);
  process.stderr.write(`  --jobs 1: ${entry.jobs1Ms} ms, --jobs 2: ${entry.jobs2Ms} ms, speed-up ${entry.speedup}x\n`);
  return 0;
}
