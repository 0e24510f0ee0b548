/**
 * Exported files are a function of the experiment alone: the same export stage run again, in
 * another process and after this one has built other models, writes the same bytes.
 */
import { execaNode } from 'execa';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/api.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const MICRO = join(ROOT, 'test/e2e/micro.yaml');
const KDQ = join(ROOT, 'bin/kdq.mjs');
const FILES = ['teacher.tflite', 'student.tflite', 'student-int8.tflite', 'metrics.json'];
const quiet = new Writable({ write: (_c, _e, cb) => cb() });
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kdq-reexport-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('re-exporting a stage', () => {
  it('in a second process, and a third time in this one, gives byte-identical files', { timeout: 300_000 }, async () => {
    const runsDir = join(dir, 'runs');
    const first = await run(MICRO, { runsDir, log: () => undefined, progress: quiet });
    const again = await execaNode(KDQ, ['run', MICRO, '--runs-dir', runsDir, '--force-stage', 'export'], { reject: false });
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/^export:student_int8@s3: ran in/m);
    const second = join(runsDir, 'e2e-micro', 'latest');
    // This process has built every model of the run already: tf.js would number a new input tensor.
    const third = await run(MICRO, { runsDir, forceStages: ['export'], log: () => undefined, progress: quiet });
    for (const f of FILES) {
      const a = await readFile(join(first.runDir!, f));
      expect((await readFile(join(second, f))).equals(a), `${f} (second process)`).toBe(true);
      expect((await readFile(join(third.runDir!, f))).equals(a), `${f} (third run, same process)`).toBe(true);
    }
  });
});
