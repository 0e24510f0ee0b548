/**
 * `npm run bench`: the suite of shapes (bench/shapes.ts) trained at batch 32 and 64, each shape and
 * batch size in a fresh process (so that its peak RSS is its own and no earlier shape's heap or
 * compiled code helps it), appended to bench/results/suite.json. Each process reports samples/s
 * at the median step of each of several runs and the median of those (the headline figure), the
 * wall-clock rate, the fastest step, and with `--profile` the time of every kernel per step.
 *
 *   npm run bench                                  every shape, batch 32 and 64
 *   npm run bench -- --shapes cnn,resnet8          some shapes (names in bench/shapes.ts)
 *   npm run bench -- --batch 32 --profile          one batch size, with a per-kernel table
 *   npm run bench -- --peer                        also PyTorch on 1 and 2 threads, ratios in the same run
 *   npm run bench -- --kernel-threads 1,2          kdq on 1 and on 2 kernel threads (default: 2, what a run uses alone)
 *
 * `--peer` trains the same layer specs in PyTorch (bench/peer/torch_peer.py, run with Debian's
 * python3-torch at /usr/bin/python3 or $KDQ_BENCH_PYTHON) right after each kdq measurement, so
 * each ratio comes from one run on one host state.
 */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { autoKernelThreads } from '../src/backend/intra-op/threads.ts';
import { appendHistory } from './history.ts';
import { BENCH_SHAPES, selectShapes } from './shapes.ts';
import type { ShapeResult } from './shape-throughput.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const SUITE_RESULTS = path.join(ROOT, 'bench', 'results', 'suite.json');

export interface SuiteOptions {
  shapes?: string[];
  batches: number[];
  steps: number;
  runs: number;
  warmup: number;
  profile: boolean;
  /** Also time PyTorch on the same networks (1 and 2 threads). */
  peer: boolean;
  /** kdq's kernel threads (--kernel-threads); each shape is measured at each. */
  kernelThreads: number[];
  note: string;
}

/** PyTorch's figures for one shape and batch size (bench/peer/torch_peer.py). */
export interface PeerResult {
  torch: string;
  /** The BLAS library PyTorch loaded (Debian's torch follows libblas.so.3). */
  blas: string;
  threads: number;
  medianStepRuns: number[];
  medianSteps: number;
  median: number;
  minStepMs: number;
  parameters: number;
}

export type SuiteResult = ShapeResult & { kernelThreads: number; peer?: PeerResult[] };

const USAGE =
  'use --shapes NAME,... (' +
  BENCH_SHAPES.map((s) => s.name).join(', ') +
  '), --batch N,..., --kernel-threads N,..., --steps N, --runs N (>= 3), --warmup N, --profile, --peer, --note TEXT';

/** The suite's options; throws with the usage on a bad one. */
export function parseSuiteArgs(argv: string[]): SuiteOptions {
  const o: SuiteOptions = { batches: [32, 64], steps: 20, runs: 5, warmup: 5, profile: false, peer: false, kernelThreads: [autoKernelThreads()], note: '' };
  const list = (v: string | undefined) => (v ?? '').split(',').filter(Boolean);
  const count = (flag: string, v: string | undefined, min: number) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`${flag} '${v}': expected a whole number >= ${min}; ${USAGE}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--shapes') o.shapes = list(argv[++i]);
    else if (a === '--batch') o.batches = list(argv[++i]).map((b) => count('--batch', b, 1));
    else if (a === '--kernel-threads') o.kernelThreads = list(argv[++i]).map((t) => count('--kernel-threads', t, 1));
    else if (a === '--steps') o.steps = count('--steps', argv[++i], 1);
    else if (a === '--runs') o.runs = count('--runs', argv[++i], 3);
    else if (a === '--warmup') o.warmup = count('--warmup', argv[++i], 0);
    else if (a === '--profile') o.profile = true;
    else if (a === '--peer') o.peer = true;
    else if (a === '--note') o.note = argv[++i] ?? '';
    else throw new Error(`unknown option '${a}'; ${USAGE}`);
  }
  selectShapes(o.shapes); // an unknown name fails here, before any process starts
  if (o.batches.length === 0) throw new Error(`--batch needs at least one size; ${USAGE}`);
  return o;
}

/** One shape at one batch size in a fresh process (bin/bench.mjs --shape-worker). */
function runWorker(shape: string, batchSize: number, kernelThreads: number, o: SuiteOptions): SuiteResult {
  const args = [
    path.join(ROOT, 'bin', 'bench.mjs'),
    '--shape-worker',
    shape,
    '--batch',
    String(batchSize),
    '--steps',
    String(o.steps),
    '--runs',
    String(o.runs),
    '--warmup',
    String(o.warmup),
    '--kernel-threads',
    String(kernelThreads),
    ...(o.profile ? ['--profile'] : []),
  ];
  const stdout = execFileSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 << 20 });
  return { ...(JSON.parse(stdout.trim().split('\n').pop()!) as ShapeResult), kernelThreads };
}

const PEER_SCRIPT = path.join(ROOT, 'bench', 'peer', 'torch_peer.py');
const PEER_THREADS = [1, 2];

/** PyTorch training the same layer specs at `batchSize`, once per thread count in PEER_THREADS. */
async function runPeer(shapeName: string, batchSize: number, o: SuiteOptions): Promise<PeerResult[]> {
  const shape = selectShapes([shapeName])[0];
  const layers = await shape.layers();
  const model = await shape.build(1);
  const kdqParameters = model.countParams();
  model.dispose();
  const python = process.env.KDQ_BENCH_PYTHON ?? '/usr/bin/python3';
  return PEER_THREADS.map((threads) => {
    const job = {
      inputShape: shape.inputShape,
      classes: shape.classes,
      layers,
      batch: batchSize,
      steps: o.steps,
      runs: o.runs,
      warmup: o.warmup,
      threads,
      seed: 1,
    };
    const stdout = execFileSync(python, [PEER_SCRIPT], { cwd: ROOT, input: JSON.stringify(job), encoding: 'utf8', stdio: ['pipe', 'pipe', 'inherit'] });
    const r = JSON.parse(stdout.trim().split('\n').pop()!) as PeerResult;
    if (r.parameters !== kdqParameters)
      throw new Error(`the PyTorch peer built ${shapeName} with ${r.parameters} parameters, kdq with ${kdqParameters}: not the same network`);
    return r;
  });
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

function printResult(r: SuiteResult): void {
  process.stderr.write(
    `  ${r.shape.padEnd(8)} batch ${String(r.batchSize).padEnd(3)} ${r.kernelThreads} thread${r.kernelThreads > 1 ? 's' : ' '} ${fmt(r.medianSteps).padStart(7)} samples/s at the median step ` +
      `(runs ${r.medianStepRuns.map(fmt).join(', ')}), wall ${fmt(r.median)}, fastest step ${r.minStepMs} ms (${fmt(r.bestStep)}/s), peak RSS ${r.peakRssMb} MB\n`,
  );
  for (const p of r.peer ?? []) {
    process.stderr.write(
      `    PyTorch ${p.torch} (${path.basename(path.dirname(p.blas))}), ${p.threads} thread${p.threads > 1 ? 's' : ''}: ${fmt(p.medianSteps)} samples/s at the median step ` +
        `(runs ${p.medianStepRuns.map(fmt).join(', ')}); kdq / PyTorch ${(r.medianSteps / p.medianSteps).toFixed(2)}x\n`,
    );
  }
  if (r.profile === undefined) return;
  process.stderr.write(`    ${'kernel'.padEnd(36)} ${'calls'.padStart(6)} ${'min ms'.padStart(9)} ${'median ms'.padStart(10)}   share\n`);
  for (const k of r.profile.filter((k) => k.percent >= 0.5 || k.kernel === '(outside kernels)')) {
    process.stderr.write(
      `    ${k.kernel.padEnd(36)} ${k.callsPerStep.toFixed(0).padStart(6)} ${k.minMs.toFixed(3).padStart(9)} ${k.medianMs.toFixed(3).padStart(10)}   ${k.percent}%\n`,
    );
  }
}

/**
 * Runs the suite and appends one entry to bench/results/suite.json; `probeAfter` reads the host's
 * state once the measurements are done (load, memory stalls), so a stall during the run shows.
 */
export async function benchSuite(o: SuiteOptions, probeAfter: () => Record<string, unknown>, env: Record<string, unknown>): Promise<SuiteResult[]> {
  const results: SuiteResult[] = [];
  const load0 = os.loadavg();
  for (const shape of selectShapes(o.shapes)) {
    for (const batchSize of o.batches) {
      let peer: PeerResult[] | undefined;
      for (const threads of o.kernelThreads) {
        const r = runWorker(shape.name, batchSize, threads, o);
        // PyTorch once per shape and batch size, right after kdq's first measurement.
        if (o.peer) r.peer = peer ??= await runPeer(shape.name, batchSize, o);
        printResult(r);
        results.push(r);
      }
    }
  }
  const after = probeAfter();
  process.stderr.write(`after the suite: ${JSON.stringify(after)}\n`);
  appendHistory(SUITE_RESULTS, 'Training throughput of the bench suite (bench/shapes.ts); see bench/suite.ts', {
    date: new Date().toISOString(),
    ...env,
    cpus: os.cpus().length,
    loadavg: [...load0, ...os.loadavg()],
    options: { batches: o.batches, kernelThreads: o.kernelThreads, steps: o.steps, runs: o.runs, warmup: o.warmup, profile: o.profile, peer: o.peer },
    after,
    results,
    notes: o.note,
  });
  process.stderr.write(`appended to ${path.relative(ROOT, SUITE_RESULTS)}\n`);
  return results;
}
