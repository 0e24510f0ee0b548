/**
 * The README shows shipped experiments, shortened (defaults left out, flow style): each block whose
 * `name` is a file in experiments/ must resolve to the same experiment as that file, so what a
 * reader copies from the README runs what the README's results came from. Only the free-text
 * `description` may differ.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveExperiment, readExperimentSource } from '../../src/config/load.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const shipped = new Set(readdirSync(join(ROOT, 'experiments')).filter((f) => f.endsWith('.yaml')));
const blocks = [...README.matchAll(/```yaml\n([\s\S]*?)```/g)]
  .map((m) => m[1]!)
  .map((text) => ({ text, name: (parse(text) as { name?: unknown } | null)?.name }))
  .filter((b): b is { text: string; name: string } => typeof b.name === 'string' && shipped.has(`${b.name}.yaml`));

/** A scratch experiments/ beside data/ and schemas/, so the README's relative paths resolve as in the shipped file. */
const scratch = mkdtempSync(join(tmpdir(), 'kdq-readme-examples-'));
mkdirSync(join(scratch, 'experiments'));
for (const dir of ['data', 'schemas']) symlinkSync(join(ROOT, dir), join(scratch, dir));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

async function resolved(file: string): Promise<Record<string, unknown>> {
  const { description: _free, ...rest } = resolveExperiment(await readExperimentSource(file)).experiment as unknown as Record<string, unknown>;
  return rest;
}

describe('the experiments the README shows', () => {
  it('include kd-mnist and kd-wine', () => {
    expect(blocks.map((b) => b.name).sort()).toEqual(['kd-mnist', 'kd-wine']);
  });

  it.each(blocks.map((b) => b.name))('the README block %s resolves to its file in experiments/', async (name) => {
    const text = blocks.find((b) => b.name === name)!.text;
    const copy = join(scratch, 'experiments', `${name}.yaml`);
    writeFileSync(copy, text);
    expect(await resolved(copy)).toEqual(await resolved(join(ROOT, 'experiments', `${name}.yaml`)));
  });

  it('notices a block that differs from its file', async () => {
    const kdMnist = blocks.find((b) => b.name === 'kd-mnist')!.text.replace('temperature: 5', 'temperature: 4');
    const copy = join(scratch, 'experiments', 'kd-mnist.yaml');
    writeFileSync(copy, kdMnist);
    expect(await resolved(copy)).not.toEqual(await resolved(join(ROOT, 'experiments', 'kd-mnist.yaml')));
  });
});
