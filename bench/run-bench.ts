/**
 * `npm run bench`: the suite of shapes (bench/suite.ts: every network of bench/shapes.ts at batch
 * 32 and 64, `--shapes NAME,...` for some, `--profile` for a per-kernel table), appended to
 * bench/results/suite.json. `--kd-mnist` instead measures the notebook's teacher and student as
 * before this suite existed, appended to bench/results/train.json with the date, commit, machine
 * load and a CPU calibration; `--ablation` (implies `--kd-mnist`) also measures the wasm kernel
 * overrides one at a time, each in a fresh process (kernels are registered once per process).
 * `--cached` times a fully cached `kdq run` (bench/cached-run.ts); `--sweep-jobs` a 4-point sweep
 * at --jobs 1 vs --jobs 2 (bench/sweep-jobs.ts); `--threads` the teacher's trainer on 1 vs 2
 * threads (bench/threads.ts); `--runs-table` `kdq runs` over twenty run folders (bench/runs-table.ts);
 * `--train-rss` the peak memory of whole runs on a CIFAR-10-sized set (bench/train-rss.ts).
 */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { appendHistory } from './history.ts';
import { initBackend, registerWasmKernels, wasmBinaryDir } from '../src/backend/index.ts';
import { setKernelThreads } from '../src/backend/intra-op/index.ts';
import { backendIdentity } from '../src/backend/identity.ts';
import { FUSED_CONV2D, FUSED_DENSE } from '../src/backend/wasm-kernels/fused-layers.ts';
import { setSimdEnabled } from '../src/backend/simd/index.ts';
import { measureThroughput, type BenchOptimizer, type ThroughputResult } from './train-throughput.ts';
import { benchSuite, parseSuiteArgs } from './suite.ts';
import { selectShapes } from './shapes.ts';
import { measureShape, openShape } from './shape-throughput.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS = path.join(ROOT, 'bench', 'results', 'train.json');

/**
 * The ablation: each step adds one group of kdq's wasm work to the previous, measured in a fresh
 * process (kernels are registered once per process).
 */
const ABLATION_STEPS: { label: string; only: string[]; optimizer: BenchOptimizer; simd: boolean; fused: boolean }[] = [
  { label: 'missing kernels only, tf.train.adam', only: [], optimizer: 'adam', simd: false, fused: false },
  {
    label: '+ BatchMatMul, MaxPoolGrad, Slice, Identity overrides',
    only: ['BatchMatMul', 'MaxPoolGrad', 'Slice', 'Identity'],
    optimizer: 'adam',
    simd: false,
    fused: false,
  },
  {
    label: '+ fastAdam (one kernel per variable)',
    only: ['BatchMatMul', 'MaxPoolGrad', 'Slice', 'Identity'],
    optimizer: 'fast-adam',
    simd: false,
    fused: false,
  },
  {
    label: '+ SIMD kernels (Adam, MaxPoolGrad, Conv2DBackpropFilter)',
    only: ['BatchMatMul', 'MaxPoolGrad', 'Slice', 'Identity'],
    optimizer: 'fast-adam',
    simd: true,
    fused: false,
  },
  { label: '+ fused conv/dense + relu', only: ['BatchMatMul', 'MaxPoolGrad', 'Slice', 'Identity'], optimizer: 'fast-adam', simd: true, fused: true },
  {
    label: '+ SIMD convolutions, depthwise, Sum, AvgPoolGrad overrides (all of kdq)',
    only: [
      'BatchMatMul',
      'MaxPoolGrad',
      'Slice',
      'Identity',
      'Conv2D',
      'FusedConv2D',
      'Conv2DBackpropInput',
      'DepthwiseConv2dNative',
      'FusedDepthwiseConv2D',
      'Sum',
      'AvgPoolGrad',
    ],
    optimizer: 'fast-adam',
    simd: true,
    fused: true,
  },
];

interface Options {
  ablation: boolean;
  steps: number;
  runs: number;
  note: string;
  optimizer: BenchOptimizer;
  /** Internal: run one ablation step and print its results as JSON. */
  only?: string[];
  simd: boolean;
  fused: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { ablation: false, steps: 40, runs: 3, note: '', optimizer: 'fast-adam', simd: true, fused: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--ablation') o.ablation = true;
    else if (a === '--steps') o.steps = Number(argv[++i]);
    else if (a === '--runs') o.runs = Number(argv[++i]);
    else if (a === '--note') o.note = argv[++i] ?? '';
    else if (a === '--optimizer') {
      const v = argv[++i];
      if (v !== 'adam' && v !== 'fast-adam') throw new Error(`--optimizer '${v}': use adam or fast-adam`);
      o.optimizer = v;
    } else if (a === '--only') o.only = (argv[++i] ?? '').split(',').filter(Boolean);
    else if (a === '--no-simd') o.simd = false;
    else if (a === '--no-fused') o.fused = false;
    else throw new Error(`unknown option '${a}'; use --ablation, --steps N, --runs N, --optimizer adam|fast-adam, --no-simd, --no-fused, --note TEXT`);
  }
  if (!(o.steps > 0 && o.runs >= 3)) throw new Error('--steps must be positive and --runs at least 3');
  return o;
}

/**
 * Milliseconds of CPU time for a fixed scalar JS loop (100M float adds). On a quiet machine of this
 * kind it takes ~130 ms; a larger value means the cores are throttled or shared, and every
 * throughput number of the same entry is low by roughly the same factor.
 */
function calibrationMs(): number {
  const a = new Float32Array(1 << 20);
  for (let i = 0; i < a.length; i++) a[i] = i % 7;
  const c0 = process.cpuUsage();
  let s = 0;
  for (let k = 0; k < 100; k++) for (let i = 0; i < a.length; i++) s += a[i];
  const c = process.cpuUsage(c0);
  if (s < 0) throw new Error('unreachable');
  return Math.round((c.user + c.system) / 1000);
}

/**
 * How much this host stalls a process that keeps touching memory it already owns: passes over a
 * 32 MB array (one read per 64-byte line, no allocation, no page faults after the first pass),
 * timed one by one. `ratio` = total wall time / (passes x fastest pass); about 1 on an ordinary
 * machine. On this sandbox's VM it measured 8-10x (30 MB) against about 4x for a 1 MB array: the
 * stalls grow with the memory a step touches, so training's wall-clock samples/s measures the host
 * and the per-step figures (`medianSteps`, `fastSteps`) measure kdq.
 */
export function memoryStallProbe(passes = 40, megabytes = 32): { passes: number; megabytes: number; fastestMs: number; totalMs: number; ratio: number } {
  const a = new Float32Array((megabytes << 20) / 4);
  a.fill(1);
  let s = 0;
  let fastest = Infinity;
  const t0 = performance.now();
  for (let p = 0; p < passes; p++) {
    const t = performance.now();
    for (let i = 0; i < a.length; i += 16) s += a[i]!;
    fastest = Math.min(fastest, performance.now() - t);
  }
  const total = performance.now() - t0;
  if (s < 0) throw new Error('unreachable');
  const round = (x: number) => Math.round(x * 100) / 100;
  return { passes, megabytes, fastestMs: round(fastest), totalMs: Math.round(total), ratio: round(total / (passes * fastest)) };
}

async function measureBoth(o: Options): Promise<Record<string, ThroughputResult>> {
  const out: Record<string, ThroughputResult> = {};
  for (const model of ['teacher', 'student'] as const) {
    out[model] = await measureThroughput(model, { batchSize: 32, stepsPerRun: o.steps, runs: o.runs, warmup: 5, optimizer: o.optimizer });
  }
  return out;
}

export function gitCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

export async function main(argv: string[]): Promise<number> {
  if (argv[0] === '--cached') {
    const { benchCachedRun } = await import('./cached-run.ts');
    return benchCachedRun();
  }
  if (argv[0] === '--threads') {
    const { benchThreads } = await import('./threads.ts');
    return benchThreads();
  }
  if (argv[0] === '--kernel-ab') {
    const { benchKernelThreads } = await import('./kernel-threads.ts');
    return benchKernelThreads(argv.slice(1));
  }
  if (argv[0] === '--runs-table') {
    const { benchRunsTable } = await import('./runs-table.ts');
    return benchRunsTable();
  }
  if (argv[0] === '--sweep-jobs') {
    const { benchSweepJobs } = await import('./sweep-jobs.ts');
    return benchSweepJobs();
  }
  if (argv[0] === '--train-rss') {
    const { benchTrainRss } = await import('./train-rss.ts');
    return benchTrainRss();
  }
  if (argv[0] === '--shape-worker') return shapeWorker(argv.slice(1));
  const kdMnist = argv.includes('--kd-mnist') || argv.includes('--ablation') || argv.includes('--only');
  if (!kdMnist) return suite(argv);
  const o = parseArgs(argv.filter((a) => a !== '--kd-mnist'));
  if (o.only !== undefined) {
    // One ablation step in a fresh process: register just these overrides, print JSON, no history.
    registerWasmKernels(o.only);
    setSimdEnabled(o.simd);
    if (!o.fused) for (const name of [FUSED_CONV2D, FUSED_DENSE]) tf.unregisterKernel(name, 'wasm');
    setWasmPaths(wasmBinaryDir());
    await tf.setBackend('wasm');
    process.stdout.write(JSON.stringify(await measureBoth(o)) + '\n');
    return 0;
  }
  const load0 = os.loadavg()[0];
  const calibration = calibrationMs();
  const stall = memoryStallProbe();
  const backend = await initBackend();
  process.stderr.write(
    `kdq bench: ${backend.name} backend, tf.js ${backend.tfjs}, load ${load0.toFixed(2)}, calibration ${calibration} ms, ` +
      `memory-stall ratio ${stall.ratio} (${stall.passes} passes over ${stall.megabytes} MB: ${stall.totalMs} ms, fastest ${stall.fastestMs})\n`,
  );
  const results = await measureBoth(o);
  for (const r of Object.values(results)) {
    process.stderr.write(
      `  ${r.model}: median ${r.median} samples/s wall (runs ${r.runs.join(', ')}), ${r.cpuMedian} per CPU-second, median step ${r.medianSteps} (runs ${r.medianStepRuns.join(', ')}), fast steps ${r.fastSteps}\n`,
    );
  }
  let ablation: { label: string; only: string[]; results: Record<string, ThroughputResult> }[] | undefined;
  if (o.ablation && backend.name === 'wasm') {
    ablation = [];
    for (const stepDef of ABLATION_STEPS) {
      const flags = [...(stepDef.simd ? [] : ['--no-simd']), ...(stepDef.fused ? [] : ['--no-fused'])];
      const args = [
        path.join(ROOT, 'bin', 'bench.mjs'),
        '--only',
        stepDef.only.join(','),
        '--steps',
        String(o.steps),
        '--runs',
        String(o.runs),
        '--optimizer',
        stepDef.optimizer,
        ...flags,
      ];
      const stdout = execFileSync(process.execPath, args, {
        cwd: ROOT,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      const res = JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, ThroughputResult>;
      ablation.push({ ...stepDef, results: res });
      process.stderr.write(
        `  ${stepDef.label}: teacher ${res.teacher.median} (${res.teacher.cpuMedian}/cpu-s, fast steps ${res.teacher.fastSteps}), ` +
          `student ${res.student.median} (${res.student.cpuMedian}/cpu-s, fast steps ${res.student.fastSteps})\n`,
      );
    }
  }
  appendHistory(RESULTS, 'Training throughput (samples/s) at batch 32; see bench/run-bench.ts', {
    date: new Date().toISOString(),
    commit: gitCommit(),
    backend: backend.name,
    tfjs: backend.tfjs,
    node: process.version,
    cpus: os.cpus().length,
    loadavg: [load0, ...os.loadavg()],
    calibrationMs: calibration,
    memoryStall: stall,
    batchSize: 32,
    stepsPerRun: o.steps,
    results: { teacher: results.teacher, student: results.student },
    ...(ablation ? { ablation } : {}),
    notes: o.note,
  });
  process.stderr.write(`appended to ${path.relative(ROOT, RESULTS)}\n`);
  return 0;
}

/** The suite, each shape and batch size in a fresh process (bench/suite.ts). */
async function suite(argv: string[]): Promise<number> {
  const o = parseSuiteArgs(argv);
  const load0 = os.loadavg()[0];
  const calibration = calibrationMs();
  const stall = memoryStallProbe();
  const id = backendIdentity();
  process.stderr.write(
    `kdq bench suite: ${id.name} backend${id.kernels ? ` (${id.kernels} kernels)` : ''}, tf.js ${id.tfjs}, load ${load0.toFixed(2)}, ` +
      `calibration ${calibration} ms, memory-stall ratio ${stall.ratio}; ${o.runs} runs of ${o.steps} steps after ${o.warmup} warm-up steps (at least ${o.warmupSeconds} s)\n`,
  );
  if (o.peer) await initBackend(); // the peer compares its network's parameter count with kdq's model
  await benchSuite(o, () => ({ loadavg: os.loadavg()[0], memoryStall: memoryStallProbe() }), {
    commit: gitCommit(),
    backend: id.name,
    kernels: id.kernels,
    tfjs: id.tfjs,
    node: process.version,
    calibrationMs: calibration,
    memoryStall: stall,
  });
  return 0;
}

/** Internal: one shape at one batch size in this process, printed as one JSON line. */
/**
 * One shape at one batch size (bench/suite.ts starts it in a fresh process): prints its
 * ShapeResult as one JSON line. With --serve, the suite drives the runs (shape-throughput.ts'
 * protocol, the PyTorch peer's too): {"ready": true} after the warm-up, then per line on stdin
 * "run" times one run ({"medianStep": samples/s}) and "finish" prints the result and exits.
 */
async function shapeWorker(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const serve = rest.includes('--serve');
  const o = parseSuiteArgs(rest.filter((a) => a !== '--serve'));
  const [shape] = selectShapes([name!]);
  await initBackend();
  setKernelThreads(o.kernelThreads[0]!);
  const options = { batchSize: o.batches[0]!, steps: o.steps, runs: o.runs, warmup: o.warmup, warmupSeconds: o.warmupSeconds, profile: o.profile };
  if (!serve) {
    process.stdout.write(JSON.stringify(await measureShape(shape!, options)) + '\n');
    return 0;
  }
  const session = await openShape(shape!, options);
  process.stdout.write(JSON.stringify({ ready: true }) + '\n');
  for await (const line of createInterface({ input: process.stdin })) {
    const command = line.trim();
    if (command === 'run') process.stdout.write(JSON.stringify({ medianStep: Math.round(session.run() * 10) / 10 }) + '\n');
    else if (command === 'finish') break;
    else throw new Error(`shape worker: unknown command '${command}'; expected run or finish`);
  }
  process.stdout.write(JSON.stringify(session.finish()) + '\n');
  return 0;
}
