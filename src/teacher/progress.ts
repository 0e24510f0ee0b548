/**
 * Progress of a teacher running over many images (soft labels on the whole training set), as
 * training progress is shown: a bar redrawn in place on a terminal, and elsewhere (logs, CI) one
 * line when done, since carriage returns would fill a log file with partial lines.
 */
import type { ProgressStream } from '../train/progress.ts';
import type { TeacherProgress } from './types.ts';

export interface ImagesProgressOptions {
  /** Names the stage at the start of every line, e.g. `soft-labels`. */
  stage: string;
  stream: ProgressStream;
  /** Default: `stream.isTTY`. */
  live?: boolean;
  /** Least time between two redraws (default 100 ms). */
  minIntervalMs?: number;
  /** Clock in ms, for tests. */
  now?: () => number;
}

/** `soft-labels [########------------] 40% 24064/60000 images 5120 images/s` */
export function formatImagesBar(stage: string, done: number, total: number, seconds: number, width = 20): string {
  const frac = total > 0 ? done / total : 1;
  const filled = Math.round(frac * width);
  const rate = seconds > 0 ? Math.round(done / seconds) : 0;
  return `${stage} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${Math.floor(frac * 100)}% ${done}/${total} images ${rate} images/s`;
}

/** An `onProgress` for Teacher.logits that writes to a stream. */
export function imagesProgress(options: ImagesProgressOptions): TeacherProgress {
  const { stream, stage } = options;
  const live = options.live ?? stream.isTTY === true;
  const minInterval = options.minIntervalMs ?? 100;
  const now = options.now ?? (() => performance.now());
  const start = now();
  let lastDraw = -Infinity;
  return (done, total) => {
    const t = now();
    const finished = done >= total;
    if (!finished && (!live || t - lastDraw < minInterval)) return;
    lastDraw = t;
    let line = formatImagesBar(stage, done, total, (t - start) / 1000);
    if (live && stream.columns && line.length >= stream.columns) line = line.slice(0, stream.columns - 1);
    stream.write(live ? `\r\x1b[K${line}${finished ? '\n' : ''}` : `${line}\n`);
  };
}
