import { describe, expect, it } from 'vitest';
import { COMMANDS, OPTIONS, helpText, parseAge, parseArgs } from '../../src/cli/args.ts';
import { KdqError } from '../../src/errors.ts';

function usageError(argv: string[]): string {
  try {
    parseArgs(argv);
  } catch (e) {
    expect(e).toBeInstanceOf(KdqError);
    expect((e as KdqError).code).toBe('E_USAGE');
    expect((e as KdqError).exitCode).toBe(2);
    return (e as Error).message;
  }
  throw new Error(`expected a usage error for ${argv.join(' ')}`);
}

describe('parseArgs', () => {
  it('parses run with repeated --set, --force-stage and booleans', () => {
    const a = parseArgs(['run', 'x.yaml', '--set', 'seed=2', '--set=distillation.temperature=4', '--force-stage', 'teacher', '--dry-run']);
    expect(a).toEqual({
      command: 'run',
      positionals: ['x.yaml'],
      options: { set: ['seed=2', 'distillation.temperature=4'], 'force-stage': ['teacher'], 'dry-run': true },
    });
  });

  it('keeps the last value of a string option and checks choices', () => {
    expect(parseArgs(['run', 'f', '--backend', 'cpu', '--backend=wasm']).options.backend).toBe('wasm');
    expect(usageError(['run', 'f', '--backend', 'wsam'])).toContain("did you mean 'wasm'?");
  });

  it('suggests commands and options', () => {
    expect(usageError(['rn', 'f'])).toContain("did you mean 'run'?");
    expect(usageError(['run', 'f', '--dryrun'])).toContain("did you mean '--dry-run'?");
    expect(usageError(['validate', 'f', '--force'])).toContain("unknown option '--force' for 'kdq validate'");
  });

  it('counts positionals', () => {
    expect(usageError(['run'])).toContain("'kdq run' needs an argument");
    expect(usageError(['run', 'a', 'b'])).toContain('takes 1 argument(s), got 2');
    expect(parseArgs(['validate', 'a', 'b', 'c']).positionals).toEqual(['a', 'b', 'c']);
    expect(parseArgs(['run', '--help']).options.help).toBe(true);
  });

  it('rejects missing values and values on booleans', () => {
    expect(usageError(['run', 'f', '--set'])).toContain("'--set' needs a value");
    expect(usageError(['run', 'f', '--force=yes'])).toContain('takes no value');
  });

  it('treats no arguments as help', () => {
    expect(parseArgs([]).options.help).toBe(true);
  });
});

describe('helpText', () => {
  it('lists every command and every option of a command', () => {
    const top = helpText(null);
    for (const c of Object.keys(COMMANDS)) expect(top).toContain(c);
    const run = helpText('run');
    for (const o of COMMANDS.run.options) expect(run).toContain(`--${o}`);
    expect(Object.keys(OPTIONS)).toContain('force-stage');
  });
});

describe('parseAge', () => {
  it('parses units and rejects junk', () => {
    expect(parseAge('7d')).toBe(7 * 86400e3);
    expect(parseAge('30m')).toBe(30 * 60e3);
    expect(() => parseAge('soon')).toThrow(/7d, 12h, 30m or 45s/);
  });
});
