import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { KdqError } from '../../src/errors.ts';
import type { Stage } from '../../src/pipeline/graph.ts';
import { canonicalJson, diffDetails, stageKey } from '../../src/pipeline/hash.ts';
import { planExperiment } from '../../src/stages/plan.ts';
import { experiment } from './fixtures/experiment.ts';

const env = { backend: 'wasm', tfjs: '4.22.0' };
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

describe('canonicalJson', () => {
  it('sorts keys at every depth and drops undefined members', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: undefined }], c: 'x' }, u: undefined })).toBe('{"a":{"c":"x","d":[3,{"z":1}]},"b":1}');
  });
  it('writes numbers in their shortest round-trip form, -0 as 0, undefined in arrays as null', () => {
    expect(canonicalJson([0.1, 1e21, 1.5e-7, -0, 2, undefined, null, true])).toBe('[0.1,1e+21,1.5e-7,0,2,null,null,true]');
  });
  it('refuses values without a stable JSON form, naming where they are', () => {
    expect(() => canonicalJson({ a: [1, NaN] })).toThrow(/\$\.a\[1\] = NaN/);
    expect(() => canonicalJson({ t: new Float32Array(2) })).toThrow(KdqError);
    expect(() => canonicalJson({ f: () => 1 })).toThrow(/function/);
  });
});

describe('stageKey', () => {
  const stage: Stage = {
    id: 'teacher@s1',
    kind: 'teacher',
    config: { epochs: 2, lr: 0.001 },
    inputs: { data: 'data' },
    deps: ['data'],
    seed: 1,
    role: 'teacher',
  };
  const depKeys = { data: 'a'.repeat(64) };

  it('is pinned: the same stage, definition, deps and env always give this key', () => {
    const key = stageKey(stage, { kind: 'teacher', version: 1 }, depKeys, env, { data: 'sha-of-data' });
    expect(key.details).toEqual({
      definition: sha('{"kind":"teacher","version":1}'),
      config: sha('{"epochs":2,"lr":0.001}'),
      env: sha('{"backend":"wasm","tfjs":"4.22.0"}'),
      role: sha('"teacher"'),
      'dep:data': 'a'.repeat(64),
      'extra:data': sha('sha-of-data'),
    });
    // Golden values (computed once with Python's hashlib and json.dumps(sort_keys=True)): if they change,
    // every cache entry users have is invalidated. Change them only on purpose.
    expect(key.details.config).toBe('18b96bfaa7b74c7f06636818edf2b85374cb4ca67f4c8f05b5ee12501acf2442');
    expect(key.value).toBe('58fb2b2146683bd02c69ee196b2a634ce12debc706ed311597ec68d172465a7b');
  });

  it('changes with every part: version, config, dep key, env (backend, tf.js, kernel build), fingerprint', () => {
    const base = stageKey(stage, { kind: 'teacher', version: 1 }, depKeys, env, { data: 'x' }).value;
    const variants = [
      stageKey(stage, { kind: 'teacher', version: 2 }, depKeys, env, { data: 'x' }),
      stageKey({ ...stage, config: { epochs: 3, lr: 0.001 } }, { kind: 'teacher', version: 1 }, depKeys, env, { data: 'x' }),
      stageKey(stage, { kind: 'teacher', version: 1 }, { data: 'b'.repeat(64) }, env, { data: 'x' }),
      stageKey(stage, { kind: 'teacher', version: 1 }, depKeys, { ...env, backend: 'cpu' }, { data: 'x' }),
      stageKey(stage, { kind: 'teacher', version: 1 }, depKeys, { ...env, tfjs: '4.21.0' }, { data: 'x' }),
      stageKey(stage, { kind: 'teacher', version: 1 }, depKeys, { ...env, kernels: 'fma' }, { data: 'x' }),
      stageKey(stage, { kind: 'teacher', version: 1 }, depKeys, { ...env, kernels: 'plain' }, { data: 'x' }),
      stageKey(stage, { kind: 'teacher', version: 1 }, depKeys, env, { data: 'y' }),
    ].map((k) => k.value);
    expect(new Set([base, ...variants]).size).toBe(variants.length + 1);
  });

  it('throws when a dependency has no key yet', () => {
    expect(() => stageKey(stage, { kind: 'teacher', version: 1 }, {}, env)).toThrow(/dependency "data"/);
  });

  it('ignores key order and written-out undefined optionals of the experiment', () => {
    const a = experiment();
    const b = experiment();
    // Same values, keys in another order, optional data fields written as undefined.
    b.data = { validationSplit: 0, testLimit: 500, trainLimit: 2000, files: undefined, urls: undefined, source: 'mnist' };
    b.distillation = { baseline: true, temperatureSquared: true, loss: 'kl', softWeight: 0.9, hardWeight: 0.1, temperature: 4 };
    const keysOf = (g: ReturnType<typeof planExperiment>) => {
      const out: Record<string, string> = {};
      for (const s of Object.values(g.stages)) {
        const deps = Object.fromEntries(s.deps.map((d) => [d, out[d]]));
        out[s.id] = stageKey(s, { kind: s.kind, version: 1 }, deps, env).value;
      }
      return out;
    };
    const ka = keysOf(planExperiment(a));
    expect(keysOf(planExperiment(b))).toEqual(ka);
    b.distillation.temperature = 2;
    expect(keysOf(planExperiment(b))['student@s1']).not.toBe(ka['student@s1']);
  });
});

describe('diffDetails', () => {
  it('names the parts that were added, removed or changed', () => {
    expect(diffDetails({ config: '1', 'dep:a': '2', env: '3' }, { config: '1', 'dep:a': '9', role: '4' })).toEqual([
      'dep:a changed',
      'env added',
      'role removed',
    ]);
    expect(diffDetails({ a: '1' }, { a: '1' })).toEqual([]);
  });
});
