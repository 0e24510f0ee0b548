/**
 * The layout rules kdq's architecture rests on, checked on the source itself: src/ has no import
 * cycles, only the stage registry and the planner are imported from outside src/stages/, and the
 * API stays a thin layer of composition.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = new URL('../src', import.meta.url).pathname;

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Every relative module a file imports, statically or dynamically, type-only imports included. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|^\s*import\s+)'(\.{1,2}\/[^']+)'/gm)].map((m) => m[1]!);
  return specs.map((s) => resolve(dirname(file), s));
}

const graph = new Map(files(SRC).map((f) => [f, importsOf(f).filter((t) => t.startsWith(SRC))]));
const rel = (p: string) => relative(SRC, p);

describe('src/ layout', () => {
  it('every relative import names a file that exists', () => {
    const missing = [...graph].flatMap(([f, ts]) => ts.filter((t) => !graph.has(t)).map((t) => `${rel(f)} -> ${rel(t)}`));
    expect(missing).toEqual([]);
  });

  it('has no import cycles', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const stack: string[] = [];
    const visit = (f: string) => {
      state.set(f, 'open');
      stack.push(f);
      for (const t of graph.get(f) ?? []) {
        if (state.get(t) === 'open') cycles.push([...stack.slice(stack.indexOf(t)), t].map(rel).join(' -> '));
        else if (!state.has(t)) visit(t);
      }
      stack.pop();
      state.set(f, 'done');
    };
    for (const f of graph.keys()) if (!state.has(f)) visit(f);
    expect(cycles).toEqual([]);
  });

  it('outside src/stages/, only the stage registry (index.ts) and the planner (plan.ts) are imported from it', () => {
    const stages = join(SRC, 'stages') + '/';
    const allowed = new Set([join(SRC, 'stages/index.ts'), join(SRC, 'stages/plan.ts')]);
    const bad = [...graph].flatMap(([f, ts]) =>
      f.startsWith(stages) ? [] : ts.filter((t) => t.startsWith(stages) && !allowed.has(t)).map((t) => `${rel(f)} -> ${rel(t)}`),
    );
    expect(bad).toEqual([]);
  });

  it("the generic engine (src/pipeline/) knows nothing of kdq's stages, models or data", () => {
    const pipeline = join(SRC, 'pipeline') + '/';
    const bad = [...graph].flatMap(([f, ts]) =>
      f.startsWith(pipeline) ? ts.filter((t) => /\/src\/(stages|models|train|data|tflite|quant|report)\//.test(t)).map((t) => `${rel(f)} -> ${rel(t)}`) : [],
    );
    expect(bad).toEqual([]);
  });

  it('src/api.ts only composes: under 150 lines', () => {
    expect(readFileSync(join(SRC, 'api.ts'), 'utf8').split('\n').length).toBeLessThan(150);
  });
});
