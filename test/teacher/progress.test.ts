/** Progress of a teacher over many images: a bar on a terminal, one line when done elsewhere. */
import { describe, expect, it } from 'vitest';
import { formatImagesBar, imagesProgress } from '../../src/teacher/progress.ts';

function capture(isTTY: boolean): { chunks: string[]; stream: { write(s: string): boolean; isTTY: boolean; columns: number } } {
  const chunks: string[] = [];
  return { chunks, stream: { write: (s: string) => chunks.push(s) > 0, isTTY, columns: 200 } };
}

describe('imagesProgress', () => {
  it('formats done, total and rate', () => {
    expect(formatImagesBar('soft-labels', 24_000, 60_000, 4)).toBe('soft-labels [########------------] 40% 24000/60000 images 6000 images/s');
  });

  it('writes one line at the end to a log', () => {
    const { chunks, stream } = capture(false);
    let t = 0;
    const p = imagesProgress({ stage: 'soft-labels', stream, now: () => t });
    for (let done = 256; done < 1000; done += 256) {
      t += 100;
      p(done, 1000);
    }
    t = 1000;
    p(1000, 1000);
    expect(chunks).toEqual(['soft-labels [####################] 100% 1000/1000 images 1000 images/s\n']);
  });

  it('redraws a bar in place on a terminal, at most every minIntervalMs, and ends the line when done', () => {
    const { chunks, stream } = capture(true);
    let t = 0;
    const p = imagesProgress({ stage: 's', stream, now: () => t, minIntervalMs: 100 });
    t = 50;
    p(100, 400); // drawn: the first
    t = 60;
    p(200, 400); // too soon
    t = 200;
    p(300, 400);
    t = 210;
    p(400, 400); // the end is always drawn
    expect(chunks.length).toBe(3);
    expect(chunks.every((c) => c.startsWith('\r\x1b[K'))).toBe(true);
    expect(chunks[2]!.endsWith('\n')).toBe(true);
  });
});
