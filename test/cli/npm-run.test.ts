/**
 * The README's main command through npm itself: flags typed after `npm run exp FILE` without `--`
 * never reach kdq, and kdq must stop rather than run for real.
 */
import { execa } from 'execa';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('../..', import.meta.url).pathname;
const runsOf = (name: string) => (existsSync(join(ROOT, 'runs', name)) ? readdirSync(join(ROOT, 'runs', name)) : []);

describe('npm run exp', () => {
  it('FILE --dry-run (npm keeps --dry-run): exit 2, says to add --, runs nothing', { timeout: 120_000 }, async () => {
    const before = runsOf('e2e-micro');
    const r = await execa('npm', ['run', '-s', 'exp', 'test/e2e/micro.yaml', '--dry-run'], {
      cwd: ROOT,
      reject: false,
      env: { npm_config_dry_run: undefined },
    });
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toContain('npm took --dry-run for itself');
    expect(r.stderr).toContain('npm run exp -- test/e2e/micro.yaml --dry-run');
    expect(runsOf('e2e-micro')).toEqual(before);
  });

  it('-- FILE --dry-run reaches kdq: a dry run that writes no run folder', { timeout: 120_000 }, async () => {
    const before = runsOf('e2e-micro');
    const r = await execa('npm', ['run', '-s', 'exp', '--', 'test/e2e/micro.yaml', '--dry-run'], { cwd: ROOT, reject: false });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/teacher@s3 .*\n.*(would-run|cached) /);
    expect(runsOf('e2e-micro')).toEqual(before);
  });
});
