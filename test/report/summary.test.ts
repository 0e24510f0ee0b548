/** The table `kdq run` prints at the end, and what it says about a KD gain measured once. */
import { describe, expect, it } from 'vitest';
import type { Metrics } from '../../src/report/metrics.ts';
import { formatSummary } from '../../src/report/summary.ts';
import { sampleMetrics } from './fixtures.ts';

describe('formatSummary', () => {
  it('prints sizes in KiB and, for one seed, says that a single gain is not a measurement', () => {
    const m = JSON.parse(JSON.stringify(sampleMetrics({ int8: 0.965 }))) as Metrics;
    m.data.train = 2000;
    m.kd_gain = -0.026;
    const text = formatSummary(m, '/runs/x/1');
    expect(text).toMatch(/\d+\.\d KiB/);
    expect(text).not.toMatch(/\bKB\b/);
    expect(text).toContain(
      'KD gain (student - baseline): -2.60 points; one seed on 2,000 training examples: two single runs differ by this much by chance too; list several evaluation.seeds to measure the gain with its spread',
    );
    m.data.train = 60000;
    expect(formatSummary(m, '/runs/x/1')).toContain('-2.60 points; one seed: two single runs');
  });
});
