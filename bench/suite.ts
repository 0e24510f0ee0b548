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
 * python3-torch at /usr/bin/python3 or $KDQ_BENCH_PYTHON) on 1 and 2 threads, each network in its
 * own process, with kdq's runs and PyTorch's interleaved: one run of each per round, in an order
 * that rotates, so that each round's ratio compares runs made seconds apart (this host's speed
 * changes by 2x within a minute). The headline ratio is the median over the rounds.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { autoKernelThreads } from '../src/backend/intra-op/threads.ts';
import { appendHistory } from './history.ts';
import { BENCH_SHAPES, selectShapes } from './shapes.ts';
import type { ShapeResult } from './shape-throughput.ts';
import { median } from './train-throughput.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const SUITE_RESULTS = path.join(ROOT, 'bench', 'results', 'suite.json');

export interface SuiteOptions {
  shapes?: string[];
  batches: number[];
  steps: number;
  runs: number;
  warmup: number;
  /** ...and at least this many seconds of warm-up steps (both sides). */
  warmupSeconds: number;
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

/**
 * kdq against PyTorch run by run: round r times one run of each (kdq, PyTorch on 1 thread, on 2;
 * the order rotates), so each round's ratio compares runs made seconds apart, on one host state.
 */
export interface PairedRatios {
  /** Per round, kdq's samples/s at the median step over the faster PyTorch's in that round. */
  rounds: number[];
  /** Their median: the suite's headline ratio. */
  median: number;
}

export type SuiteResult = ShapeResult & { kernelThreads: number; peer?: PeerResult[]; paired?: PairedRatios };

const USAGE =
  'use --shapes NAME,... (' +
  BENCH_SHAPES.map((s) => s.name).join(', ') +
  '), --batch N,..., --kernel-threads N,..., --steps N, --runs N (>= 3), --warmup N, --warmup-seconds S, --profile, --peer, --note TEXT';

/** The suite's options; throws with the usage on a bad one. */
export function parseSuiteArgs(argv: string[]): SuiteOptions {
  // At least 60 warm-up steps and 2 s: a kdq process reaches its steady speed only after 60-100
  // steps (its first runs of 20 after 5 warm-up steps measured 2-3x slower: the JavaScript and
  // WebAssembly being compiled to their optimized tiers, the heap growing; 60 steps of the MLP
  // take 0.1 s and still left its first run at half speed), and PyTorch gets the same.
  const o: SuiteOptions = {
    batches: [32, 64],
    steps: 20,
    runs: 5,
    warmup: 60,
    warmupSeconds: 2,
    profile: false,
    peer: false,
    kernelThreads: [autoKernelThreads()],
    note: '',
  };
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
    else if (a === '--warmup-seconds') o.warmupSeconds = count('--warmup-seconds', argv[++i], 0);
    else if (a === '--profile') o.profile = true;
    else if (a === '--peer') o.peer = true;
    else if (a === '--note') o.note = argv[++i] ?? '';
    else throw new Error(`unknown option '${a}'; ${USAGE}`);
  }
  selectShapes(o.shapes); // an unknown name fails here, before any process starts
  if (o.batches.length === 0) throw new Error(`--batch needs at least one size; ${USAGE}`);
  return o;
}

/** The command line of a shape worker (bin/bench.mjs --shape-worker). */
function workerArgs(shape: string, batchSize: number, kernelThreads: number, o: SuiteOptions): string[] {
  return [
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
    '--warmup-seconds',
    String(o.warmupSeconds),
    '--kernel-threads',
    String(kernelThreads),
    ...(o.profile ? ['--profile'] : []),
  ];
}

/** One shape at one batch size in a fresh process (bin/bench.mjs --shape-worker). */
function runWorker(shape: string, batchSize: number, kernelThreads: number, o: SuiteOptions): SuiteResult {
  const args = workerArgs(shape, batchSize, kernelThreads, o);
  const stdout = execFileSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 << 20 });
  return { ...(JSON.parse(stdout.trim().split('\n').pop()!) as ShapeResult), kernelThreads };
}

const PEER_SCRIPT = path.join(ROOT, 'bench', 'peer', 'torch_peer.py');
const PEER_THREADS = [1, 2];

/** A child process driven one line at a time (the serve protocol of shapeWorker and torch_peer.py). */
class LineChild {
  private readonly lines: string[] = [];
  private waiting: { resolve(line: string): void; reject(e: Error): void } | null = null;
  private failure: Error | null = null;

  constructor(
    private readonly label: string,
    private readonly child: ChildProcess,
  ) {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const w = this.waiting;
      this.waiting = null;
      if (w === null) this.lines.push(line);
      else w.resolve(line);
    });
    // a missing interpreter, a crash, an exit before the answer: whoever waits hears of it
    child.on('error', (e) => this.fail(new Error(`${label} could not start: ${e.message}`)));
    child.on('exit', (code, signal) => this.fail(new Error(`${label} exited (${signal ?? `code ${code}`}) before answering`)));
    child.stdin!.on('error', () => undefined);
  }

  private fail(e: Error): void {
    this.failure ??= e;
    const w = this.waiting;
    this.waiting = null;
    w?.reject(this.failure);
  }

  /** The next JSON line the process prints. */
  async next<T>(): Promise<T> {
    const line =
      this.lines.shift() ??
      (await new Promise<string>((resolve, reject) => {
        if (this.failure !== null) reject(this.failure);
        else this.waiting = { resolve, reject };
      }));
    return JSON.parse(line) as T;
  }

  /** Sends one command and returns the line it answers with. */
  async ask<T>(command: string): Promise<T> {
    this.child.stdin!.write(command + '\n');
    return this.next<T>();
  }

  /** "finish": its final JSON line; then its stdin closes. */
  async finish<T>(): Promise<T> {
    const result = await this.ask<T>('finish');
    this.child.stdin!.end();
    return result;
  }

  /** Stops the process if it still runs (after another one failed). */
  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill();
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Pause after each run, so that threads still spinning after one process's run (OpenBLAS's) do not run into the next. */
const SETTLE_MS = 250;

/**
 * kdq at `kernelThreads` and PyTorch on 1 and 2 threads, each in its own process, warmed up, then
 * `o.runs` rounds of one run each, in an order that rotates every round (PairedRatios).
 */
export async function runPaired(shapeName: string, batchSize: number, kernelThreads: number, o: SuiteOptions): Promise<SuiteResult> {
  const shape = selectShapes([shapeName])[0]!;
  const layers = await shape.layers();
  const model = await shape.build(1);
  const kdqParameters = model.countParams();
  model.dispose();
  const python = process.env.KDQ_BENCH_PYTHON ?? '/usr/bin/python3';
  const kdq = new LineChild(
    `kdq's ${shapeName} worker`,
    spawn(process.execPath, [...workerArgs(shapeName, batchSize, kernelThreads, o), '--serve'], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] }),
  );
  const peers = PEER_THREADS.map((threads) => {
    const child = spawn(python, [PEER_SCRIPT], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
    const job = {
      inputShape: shape.inputShape,
      classes: shape.classes,
      layers,
      batch: batchSize,
      steps: o.steps,
      runs: o.runs,
      warmup: o.warmup,
      warmupSeconds: o.warmupSeconds,
      threads,
      seed: 1,
      serve: true,
    };
    child.stdin.write(JSON.stringify(job) + '\n');
    return new LineChild(`the PyTorch peer (${threads} thread${threads > 1 ? 's' : ''})`, child);
  });
  const all = [kdq, ...peers];
  const rounds: number[] = [];
  let result: ShapeResult;
  let peer: PeerResult[];
  try {
    // warm-ups run at the same time; the timed runs never do
    for (const c of all) await c.next<{ ready: boolean }>();
    await sleep(SETTLE_MS);
    for (let r = 0; r < o.runs; r++) {
      const rates = new Map<LineChild, number>();
      for (let i = 0; i < all.length; i++) {
        const c = all[(i + r) % all.length]!;
        rates.set(c, (await c.ask<{ medianStep: number }>('run')).medianStep);
        await sleep(SETTLE_MS);
      }
      rounds.push(rates.get(kdq)! / Math.max(...peers.map((p) => rates.get(p)!)));
    }
    result = await kdq.finish<ShapeResult>();
    peer = await Promise.all(peers.map((p) => p.finish<PeerResult>()));
  } catch (e) {
    for (const c of all) c.kill();
    throw e;
  }
  for (const p of peer) {
    if (p.parameters !== kdqParameters)
      throw new Error(`the PyTorch peer built ${shapeName} with ${p.parameters} parameters, kdq with ${kdqParameters}: not the same network`);
  }
  const round2 = (x: number) => Math.round(x * 100) / 100;
  return { ...result, kernelThreads, peer, paired: { rounds: rounds.map(round2), median: round2(median(rounds)) } };
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
  if (r.paired !== undefined) {
    process.stderr.write(
      `    kdq / the faster PyTorch, run by run: ${r.paired.rounds.map((x) => x.toFixed(2)).join(', ')}; median ${r.paired.median.toFixed(2)}x\n`,
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
      for (const threads of o.kernelThreads) {
        const r = o.peer ? await runPaired(shape.name, batchSize, threads, o) : runWorker(shape.name, batchSize, threads, o);
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
    options: {
      batches: o.batches,
      kernelThreads: o.kernelThreads,
      steps: o.steps,
      runs: o.runs,
      warmup: o.warmup,
      warmupSeconds: o.warmupSeconds,
      profile: o.profile,
      peer: o.peer,
    },
    after,
    results,
    notes: o.note,
  });
  process.stderr.write(`appended to ${path.relative(ROOT, SUITE_RESULTS)}\n`);
  return results;
}
