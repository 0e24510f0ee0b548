/**
 * `npm run bench -- --train-rss`: peak memory of whole `kdq run`s on a CIFAR-10-sized set (50,000
 * training and 10,000 test images of 32x32x3, written in CIFAR-10's binary format): data, teacher,
 * soft labels, KD student, baseline, four exports (int8 calibrated) and four LiteRT.js
 * evaluations of every test image. One run with small networks trains on every image; one with
 * kd-cifar10's networks holds every image but trains on 2,000, so both finish on a busy machine.
 * Each run is a child process that reports its own peak RSS (VmHWM) when done; the results, with
 * the size of the images in memory as bytes and as the float32 copy kdq used to keep, are appended
 * to bench/results/memory.json. Time is not measured: the machine is shared.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { appendHistory } from './history.ts';
import { PIXELS, writeCifar10Set } from './cifar-files.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS = path.join(ROOT, 'bench', 'results', 'memory.json');
const TRAIN = 50_000;
const TEST = 10_000;
/** The goal of issue 18: a CIFAR-10-sized set trains within 1.5 GiB. */
const LIMIT_MIB = 1536;

/** Two runs: small networks on every image, and kd-cifar10's networks (all images held, 2,000 trained on). */
const RUNS: { label: string; yaml: string }[] = [
  {
    label: 'small networks, every training image, one epoch',
    yaml: `name: bench-train-rss
data: { source: cifar10, dir: cifar-10-batches-bin }
teacher:
  layers:
    - { type: conv2d, filters: 8, kernelSize: 3, strides: 2, activation: relu }
    - { type: flatten }
    - { type: dense, units: 10 }
  training: { epochs: 1, batchSize: 64 }
student:
  layers:
    - { type: maxPooling2d, poolSize: 4 }
    - { type: flatten }
    - { type: dense, units: 10 }
  training: { epochs: 1, batchSize: 64 }
quantization: { mode: int8, calibrationSamples: 100 }
`,
  },
  {
    label: "kd-cifar10's networks (normalize auto, crop and flip), every image held, the first 2,000 trained on for one epoch",
    yaml: kdCifar10Locally(),
  },
];

/** experiments/kd-cifar10.yaml reading the written folder instead of its download, one short epoch per network. */
function kdCifar10Locally(): string {
  const doc = parse(readFileSync(path.join(ROOT, 'experiments', 'kd-cifar10.yaml'), 'utf8')) as Record<string, Record<string, unknown>>;
  doc.name = 'bench-train-rss-cifar' as never;
  doc.data = { source: 'cifar10', dir: 'cifar-10-batches-bin', normalize: 'auto' };
  for (const role of ['teacher', 'student']) doc[role].training = { ...(doc[role].training as object), epochs: 1, trainLimit: 2000 };
  return stringify(doc);
}

async function peakRssMiB(): Promise<number> {
  const status = await readFile('/proc/self/status', 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1]) / 1024;
}

/** In the child: the whole run through kdq's CLI entry, then this process's peak RSS as JSON. */
async function child(file: string, runsDir: string): Promise<void> {
  const { main } = await import('../src/cli.ts');
  const quiet = { write: () => true } as unknown as NodeJS.WritableStream;
  const code = await main(['run', file, '--runs-dir', runsDir], { stdout: quiet as never, stderr: process.stderr });
  process.stdout.write(JSON.stringify({ code, peakRssMiB: Number((await peakRssMiB()).toFixed(1)) }) + '\n');
}

export async function benchTrainRss(): Promise<number> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'kdq-train-rss-'));
  try {
    process.stderr.write(`kdq bench: writing ${TRAIN} + ${TEST} images of 32x32x3 in CIFAR-10's format to ${dir}\n`);
    await writeCifar10Set(path.join(dir, 'cifar-10-batches-bin'), TRAIN / 5, TEST);
    const load0 = os.loadavg();
    const runs: { label: string; peakRssMiB: number }[] = [];
    for (const [i, run] of RUNS.entries()) {
      const file = path.join(dir, `experiment-${i}.yaml`);
      await writeFile(file, run.yaml);
      process.stderr.write(`kdq bench: kdq run in a child process, ${run.label} (every stage; minutes)\n`);
      const out = execFileSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', file, path.join(dir, 'runs')], {
        cwd: ROOT,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
        maxBuffer: 1 << 20,
      });
      const r = JSON.parse(out.trim().split('\n').pop()!) as { code: number; peakRssMiB: number };
      if (r.code !== 0) throw new Error(`kdq run exited ${r.code} (${run.label})`);
      runs.push({ label: run.label, peakRssMiB: r.peakRssMiB });
      process.stderr.write(`  peak RSS ${r.peakRssMiB} MiB (limit ${LIMIT_MIB} MiB)\n`);
    }
    const mib = (n: number) => Number((n / 2 ** 20).toFixed(1));
    const entry = {
      date: new Date().toISOString(),
      commit: execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim(),
      node: process.version,
      loadavg: [...load0, ...os.loadavg()].map((v) => Number(v.toFixed(2))),
      examples: { train: TRAIN, test: TEST, shape: [32, 32, 3] },
      imagesInMemoryMiB: { asBytes: mib((TRAIN + TEST) * PIXELS), asFloat32: mib((TRAIN + TEST) * PIXELS * 4) },
      runs,
      limitMiB: LIMIT_MIB,
      withinLimit: runs.every((r) => r.peakRssMiB < LIMIT_MIB),
    };
    appendHistory(RESULTS, 'Peak RSS of whole kdq runs (every stage) on a CIFAR-10-sized set; see bench/train-rss.ts', entry);
    process.stderr.write(
      `  the images take ${entry.imagesInMemoryMiB.asBytes} MiB as bytes; as float32 they would take ${entry.imagesInMemoryMiB.asFloat32} MiB\n`,
    );
    return entry.withinLimit ? 0 : 1;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--child') await child(process.argv[3], process.argv[4]);
