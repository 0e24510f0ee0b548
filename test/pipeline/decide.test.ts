/** The walker's decision for one stage, from facts alone: every status and reason, no I/O. */
import { describe, expect, it } from 'vitest';
import { decide, needsLookup, type StageFacts } from '../../src/pipeline/decide.ts';

const facts = (over: Partial<StageFacts> = {}): StageFacts => ({
  cancelled: false,
  blocked: null,
  keyError: null,
  forced: null,
  cacheable: true,
  hit: false,
  dryRun: false,
  key: 'k2',
  details: { config: 'c2', 'dep:data': 'd1' },
  ...over,
});

describe('decide', () => {
  it('reuses a cache hit of a cacheable stage', () => {
    expect(decide(facts({ hit: true }))).toEqual({ action: 'reuse', reason: 'cache hit' });
  });

  it('runs a miss, naming the key parts that changed since the last run', () => {
    expect(decide(facts({ previous: { key: 'k1', details: { config: 'c1', 'dep:data': 'd1' } } }))).toEqual({
      action: 'run',
      reason: 'no entry for key (config changed)',
    });
    expect(decide(facts())).toEqual({ action: 'run', reason: 'no entry for key (no earlier run to compare with)' });
    expect(decide(facts({ previous: { key: 'k2', details: {} } })).reason).toBe('no entry for key (same key as the last run; its entry was removed)');
    expect(decide(facts({ previous: { key: 'k1', details: { config: 'c2' } } })).reason).toBe('no entry for key (dep:data added)');
  });

  it('names the config keys that changed, with old and new values', () => {
    const before = { key: 'k1', details: { config: 'c1', 'dep:data': 'd1' }, config: { distillation: { temperature: 5, hardWeight: 0.5 }, seed: 1 } };
    const now = { distillation: { temperature: 2, hardWeight: 0.5 }, seed: 1, trainLimit: 10 };
    expect(decide(facts({ previous: before, config: now })).reason).toBe(
      'no entry for key (config changed: distillation.temperature 5 -> 2; trainLimit (unset) -> 10)',
    );
    const many = { distillation: { temperature: 1, hardWeight: 0.1 }, seed: 2, trainLimit: 3 };
    expect(decide(facts({ previous: before, config: many })).reason).toBe(
      'no entry for key (config changed: distillation.hardWeight 0.5 -> 0.1; distillation.temperature 5 -> 1; seed 1 -> 2 and 1 more)',
    );
  });

  it('plans instead of running on a dry run', () => {
    expect(decide(facts({ dryRun: true }))).toEqual({ action: 'plan', reason: 'no entry for key (no earlier run to compare with)' });
    expect(decide(facts({ dryRun: true, hit: true }))).toEqual({ action: 'reuse', reason: 'cache hit' });
  });

  it('reruns forced stages and non-cacheable ones whatever the cache holds', () => {
    expect(decide(facts({ forced: 'force', hit: true }))).toEqual({ action: 'run', reason: 'forced (--force)' });
    expect(decide(facts({ forced: 'force-stage', hit: true })).reason).toBe('forced (--force-stage)');
    expect(decide(facts({ forced: 'dependent', hit: true })).reason).toBe('forced (depends on a forced stage)');
    expect(decide(facts({ cacheable: false, hit: true }))).toEqual({ action: 'run', reason: 'not cacheable' });
  });

  it('skips a stage whose dependency failed or was skipped, and every stage after a cancel', () => {
    expect(decide(facts({ blocked: { id: 'teacher@s1', status: 'failed' }, hit: true }))).toEqual({ action: 'skip', reason: 'dependency teacher@s1 failed' });
    expect(decide(facts({ blocked: { id: 'data', status: 'skipped' } })).reason).toBe('dependency data was skipped');
    expect(decide(facts({ cancelled: true, forced: 'force' }))).toEqual({ action: 'skip', reason: 'run cancelled' });
  });

  it('fails a stage whose key cannot be computed, unless a dependency already failed', () => {
    const error = new Error('data file missing');
    expect(decide(facts({ keyError: error }))).toEqual({ action: 'fail', reason: 'stage threw an error', error });
    expect(decide(facts({ keyError: error, blocked: { id: 'data', status: 'failed' } })).action).toBe('skip');
  });

  it('looks the cache up only when the answer depends on it', () => {
    expect(needsLookup(facts())).toBe(true);
    for (const over of [
      { forced: 'force' as const },
      { cacheable: false },
      { cancelled: true },
      { keyError: new Error('x') },
      { blocked: { id: 'a', status: 'failed' as const } },
    ]) {
      expect(needsLookup(facts(over)), JSON.stringify(over)).toBe(false);
    }
  });
});
