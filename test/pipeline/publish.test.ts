/**
 * publishRun's transform: every file of the publish list passes through it on its way into the run
 * folder with the run's id, start and publish time, while the stage's own output keeps its bytes;
 * kdq's transform fills the reports' run-header marker.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Cache } from '../../src/pipeline/cache.ts';
import { PUBLISH_FILE, publishRun, type PublishedRun, type PublishList, type PublishOptions } from '../../src/pipeline/publish.ts';
import { runGraph } from '../../src/pipeline/run.ts';
import type { StageDefinitions } from '../../src/pipeline/stage.ts';
import { readStages } from '../../src/pipeline/stages-file.ts';
import { planExperiment } from '../../src/stages/plan.ts';
import { RUN_HEADER_MARKER, runHeaderTransform } from '../../src/report/run-header.ts';
import { experiment } from './fixtures/experiment.ts';
import { toyDefs } from './fixtures/toy-defs.ts';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'kdq-publish-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const REPORT_MD = `# toy\n\n${RUN_HEADER_MARKER}\n\nbody\n`;

/** The toy pipeline, its report stage writing a report with the marker and a publish list. */
async function walk() {
  const defs: StageDefinitions = toyDefs();
  const toyReport = defs.report!;
  defs.report = {
    ...toyReport,
    async run(ctx) {
      await toyReport.run(ctx);
      await writeFile(join(ctx.outDir, 'report.md'), REPORT_MD);
      const list: PublishList = [
        { path: 'report.md', stage: ctx.stage.id, file: 'report.md' },
        { path: 'out.txt', stage: ctx.stage.id, file: 'out.txt' },
      ];
      await writeFile(join(ctx.outDir, PUBLISH_FILE), JSON.stringify(list));
    },
  };
  const graph = planExperiment(experiment());
  const cache = new Cache(join(root, 'cache'));
  const result = await runGraph(graph, defs, { cache, env: { backend: 'cpu', tfjs: '4.22.0' }, scratchDir: join(root, 'scratch') });
  const reportDir = result.stages.find((s) => s.id === 'report')!.outDir!;
  return { graph, cache, result, reportDir };
}

/** Publishes a walk of the toy pipeline as `toy` under `root`/runs, with `options` added. */
function publish(w: Awaited<ReturnType<typeof walk>>, options: Partial<PublishOptions> = {}): Promise<string> {
  return publishRun({ cache: w.cache, runsDir: join(root, 'runs'), name: 'toy', graph: w.graph, result: w.result, ...options });
}

describe('publishRun transform', () => {
  it('passes each listed file with the run id and times; the run folder gets what it returns, the stage output is untouched', async () => {
    const w = await walk();
    const seen: { path: string; text: string; run: PublishedRun }[] = [];
    const startedAt = new Date('2025-03-01T09:00:00.000Z');
    const dir = await publish(w, {
      startedAt,
      extra: { 'config.yaml': `x: ${RUN_HEADER_MARKER}\n` },
      transform: (path, data, run) => {
        const text = new TextDecoder().decode(data);
        seen.push({ path, text, run });
        return new TextEncoder().encode(text.replace(RUN_HEADER_MARKER, `run ${run.id}`));
      },
    });
    expect(seen.map((s) => s.path)).toEqual(['report.md', 'out.txt']);
    const run = seen[0]!.run;
    expect(run.id).toBe(basename(dir));
    expect(run.startedAt).toEqual(startedAt);
    // stages.json says the same start and the publish time the transform saw.
    const stages = await readStages(dir);
    expect([stages?.startedAt, stages?.finishedAt]).toEqual([startedAt.toISOString(), run.publishedAt.toISOString()]);
    expect(await readFile(join(dir, 'report.md'), 'utf8')).toBe(`# toy\n\nrun ${run.id}\n\nbody\n`);
    // The stage's own output keeps the marker (it must stay reproducible); `extra` is not transformed.
    expect(await readFile(join(w.reportDir, 'report.md'), 'utf8')).toBe(REPORT_MD);
    expect(await readFile(join(dir, 'config.yaml'), 'utf8')).toContain(RUN_HEADER_MARKER);
  });

  it('without a start time, the run started when its walk did', async () => {
    const w = await walk();
    let run: PublishedRun | undefined;
    await publish(w, { transform: (_p, d, r) => ((run = r), d) });
    // Dates hold whole milliseconds.
    expect(Math.abs(run!.publishedAt.getTime() - run!.startedAt.getTime() - w.result.seconds * 1000)).toBeLessThan(1);
  });

  it("kdq's header transform fills report.md's marker with the run id and duration, and leaves other files alone", async () => {
    const w = await walk();
    const startedAt = new Date('2025-03-01T09:00:00.000Z');
    const dir = await publish(w, { startedAt, transform: runHeaderTransform('9.9.9', { commit: 'abc1234', dirty: true }) });
    const md = await readFile(join(dir, 'report.md'), 'utf8');
    expect(md).not.toContain(RUN_HEADER_MARKER);
    expect(md).toMatch(
      new RegExp(`^- run ${basename(dir)} · started 2025-03-01T09:00:00Z · duration \\d+ s .* · kdq 9\\.9\\.9 · commit abc1234 \\+ uncommitted changes$`, 'm'),
    );
    expect(await readFile(join(dir, 'out.txt'))).toEqual(await readFile(join(w.reportDir, 'out.txt')));
  });
});
