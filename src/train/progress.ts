/**
 * Training progress for people. On a terminal, a bar per epoch redrawn in place at most every
 * `minIntervalMs`; elsewhere (logs, CI, pipes) one line per epoch, since carriage returns would
 * fill a log file with thousands of partial lines.
 */
import type { BatchStats, EpochStats } from './train.ts';

/** What progress output needs from a stream; `process.stderr` fits, and so does a test capture. */
export interface ProgressStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressOptions {
  /** Names the stage at the start of every line, e.g. `teacher`. */
  stage: string;
  /** Default: process.stderr. */
  stream?: ProgressStream;
  /** Default: `stream.isTTY`. */
  live?: boolean;
  /** Least time between two redraws of the bar (default 100 ms: about 10 per second). */
  minIntervalMs?: number;
  /** Clock in ms, for tests. */
  now?: () => number;
}

export interface Progress {
  onBatch: (b: BatchStats) => void;
  onEpoch: (e: EpochStats) => void;
}

/**
 * `teacher epoch 1/2: loss 0.2113 acc 0.9376 val_loss 0.1290 val_acc 0.9610 lr 0.001 1432 samples/s 41.9 s`
 * (the validation part only with a validation split).
 */
export function formatEpochLine(stage: string, e: EpochStats): string {
  const val = e.valLoss !== undefined && e.valAccuracy !== undefined ? `val_loss ${e.valLoss.toFixed(4)} val_acc ${e.valAccuracy.toFixed(4)} ` : '';
  return (
    `${stage} epoch ${e.epoch}/${e.epochs}: loss ${e.loss.toFixed(4)} acc ${e.accuracy.toFixed(4)} ${val}` +
    `lr ${Number(e.learningRate.toPrecision(3))} ${Math.round(e.samplesPerSecond)} samples/s ${e.seconds.toFixed(1)} s`
  );
}

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  return s >= 3600
    ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
    : s >= 60
      ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
      : `${s}s`;
}

/**
 * `teacher epoch 1/2 [#######-------------] 35% 700/2000 1432 samples/s loss 0.2113 acc 0.9376 ETA 2m05s`;
 * the ETA covers the remaining epochs too, at this epoch's speed.
 */
export function formatBar(stage: string, b: BatchStats, width = 20): string {
  const frac = b.samples > 0 ? b.samplesSeen / b.samples : 1;
  const filled = Math.round(frac * width);
  const rate = b.seconds > 0 ? b.samplesSeen / b.seconds : 0;
  const remaining = b.samples - b.samplesSeen + (b.epochs - b.epoch) * b.samples;
  const eta = rate > 0 ? remaining / rate : Infinity;
  return (
    `${stage} epoch ${b.epoch}/${b.epochs} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ` +
    `${Math.floor(frac * 100)}% ${b.samplesSeen}/${b.samples} ${Math.round(rate)} samples/s ` +
    `loss ${b.loss.toFixed(4)} acc ${b.accuracy.toFixed(4)} ETA ${formatDuration(eta)}`
  );
}

/** Callbacks for trainModel's `onBatch` / `onEpoch` that write progress to a stream. */
export function createProgress(options: ProgressOptions): Progress {
  const stream = options.stream ?? process.stderr;
  const live = options.live ?? stream.isTTY === true;
  const minInterval = options.minIntervalMs ?? 100;
  const now = options.now ?? (() => performance.now());
  let lastDraw = -Infinity;
  return {
    onBatch(b) {
      if (!live) return;
      const t = now();
      if (t - lastDraw < minInterval && b.step < b.steps) return;
      lastDraw = t;
      let line = formatBar(options.stage, b);
      // Never wrap: a wrapped line cannot be erased with \r.
      if (stream.columns && line.length >= stream.columns) line = line.slice(0, stream.columns - 1);
      stream.write(`\r\x1b[K${line}`);
    },
    onEpoch(e) {
      stream.write(`${live ? '\r\x1b[K' : ''}${formatEpochLine(options.stage, e)}\n`);
      lastDraw = -Infinity;
    },
  };
}
