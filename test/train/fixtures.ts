/** What the trainer's tests share: the training settings they start from, and error capture. */
import type { TrainingConfig } from '../../src/config/types.ts';
import type { KdqError } from '../../src/errors.ts';

/** Adam at 0.003, batch 32, 2 epochs, shuffled; `over` replaces any of them. */
export const trainingConfig = (over: Partial<TrainingConfig> = {}): TrainingConfig => ({
  epochs: 2,
  batchSize: 32,
  optimizer: 'adam',
  learningRate: 0.003,
  momentum: 0,
  shuffle: true,
  ...over,
});

/** The error `p` rejects with; fails the test when it resolves. */
export async function rejection(p: Promise<unknown>): Promise<KdqError> {
  try {
    await p;
  } catch (e) {
    return e as KdqError;
  }
  throw new Error('expected a rejection');
}
