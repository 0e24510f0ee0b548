import { describe, expect, it } from 'vitest';
import { createProgress, formatBar, formatEpochLine } from '../../src/train/progress.ts';
import type { BatchStats, EpochStats } from '../../src/train/train.ts';

const epoch: EpochStats = {
  epoch: 1,
  epochs: 2,
  loss: 0.21134,
  accuracy: 0.93756,
  samples: 60000,
  samplesPerSecond: 1432.4,
  seconds: 41.88,
  learningRate: 0.001,
};
const batch = (step: number, seconds: number): BatchStats => ({
  epoch: 1,
  epochs: 2,
  step,
  steps: 10,
  samplesSeen: step * 100,
  samples: 1000,
  loss: 0.5,
  accuracy: 0.8,
  seconds,
});

function capture(isTTY: boolean, columns?: number) {
  const chunks: string[] = [];
  return { chunks, stream: { isTTY, columns, write: (s: string) => chunks.push(s) } };
}

describe('progress', () => {
  it('formats one line per epoch', () => {
    expect(formatEpochLine('teacher', epoch)).toBe('teacher epoch 1/2: loss 0.2113 acc 0.9376 lr 0.001 1432 samples/s 41.9 s');
  });

  it('adds the validation loss and accuracy when the epoch has them, and the scheduled rate', () => {
    expect(formatEpochLine('student', { ...epoch, valLoss: 0.12904, valAccuracy: 0.961, learningRate: 0.000853553 })).toBe(
      'student epoch 1/2: loss 0.2113 acc 0.9376 val_loss 0.1290 val_acc 0.9610 lr 0.000854 1432 samples/s 41.9 s',
    );
  });

  it('writes only epoch lines when not on a terminal', () => {
    const { chunks, stream } = capture(false);
    const p = createProgress({ stage: 'teacher', stream });
    for (let s = 1; s <= 10; s++) p.onBatch(batch(s, s));
    p.onEpoch(epoch);
    expect(chunks).toEqual(['teacher epoch 1/2: loss 0.2113 acc 0.9376 lr 0.001 1432 samples/s 41.9 s\n']);
  });

  it('on a terminal redraws the bar at most every 100 ms, always draws the last step, then ends the line', () => {
    const { chunks, stream } = capture(true);
    let t = 0;
    const p = createProgress({ stage: 's', stream, now: () => t });
    const times = [0, 30, 60, 110, 150, 230, 240, 250, 260, 270];
    times.forEach((ms, i) => {
      t = ms;
      p.onBatch(batch(i + 1, (i + 1) * 0.1));
    });
    // Drawn at 0, 110, 230 and the last step.
    expect(chunks).toHaveLength(4);
    expect(chunks.every((c) => c.startsWith('\r\x1b[K'))).toBe(true);
    p.onEpoch(epoch);
    expect(chunks[4]).toBe('\r\x1b[Ks epoch 1/2: loss 0.2113 acc 0.9376 lr 0.001 1432 samples/s 41.9 s\n');
  });

  it('shows rate, position and an ETA that includes the remaining epochs', () => {
    // 400 of 1000 seen in 2 s: 200/s; 600 left in this epoch + 1000 in the next = 8 s.
    expect(formatBar('teacher', { ...batch(4, 2) })).toBe('teacher epoch 1/2 [########------------] 40% 400/1000 200 samples/s loss 0.5000 acc 0.8000 ETA 8s');
  });

  it('never writes a bar wider than the terminal', () => {
    const { chunks, stream } = capture(true, 40);
    createProgress({ stage: 'teacher', stream, now: () => 0 }).onBatch(batch(1, 1));
    expect(chunks[0].length).toBe('\r\x1b[K'.length + 39);
  });
});
