/** Runs a teacher over n images in batches and gathers its outputs into one [n, classes] array. */
import { KdqError } from '../errors.ts';
import type { TeacherProgress } from './types.ts';

export interface BatchPlan {
  n: number;
  /** Images per call (a fixed-batch model's batch size, else the configured size). */
  batch: number;
  /** True when every call must be given exactly `batch` images (the last one zero-padded). */
  fixed: boolean;
  classes: number;
}

/** Checks that `images` holds `n` images of `pixels` values. */
export function checkImages(images: Float32Array, n: number, pixels: number, path: string): void {
  if (!Number.isInteger(n) || n < 0 || images.length !== n * pixels) {
    throw new KdqError(
      'E_TEACHER',
      `teacher '${path}': logits() got ${images.length} values for ${n} images of ${pixels} values each; pass n images, NHWC, one after another`,
    );
  }
}

/**
 * Calls `run(start, count, size)` for consecutive batches (`size` images given to the model,
 * `count` of them real) and copies the first `count` rows of each result into the output.
 * `run` may return more rows (padding); fewer, or a different row length, is an error.
 */
export async function runBatches(
  plan: BatchPlan,
  run: (start: number, count: number, size: number) => Promise<Float32Array>,
  path: string,
  onProgress?: TeacherProgress,
): Promise<Float32Array> {
  const { n, batch, fixed, classes } = plan;
  const out = new Float32Array(n * classes);
  for (let start = 0; start < n; start += batch) {
    const count = Math.min(batch, n - start);
    const size = fixed ? batch : count;
    const values = await run(start, count, size);
    if (values.length !== size * classes) {
      throw new KdqError(
        'E_TEACHER',
        `teacher model '${path}' returned ${values.length} values for a batch of ${size} images; expected ${size} x ${classes} classes`,
      );
    }
    out.set(values.subarray(0, count * classes), start * classes);
    onProgress?.(start + count, n);
  }
  return out;
}
