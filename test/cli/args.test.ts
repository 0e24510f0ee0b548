import { describe, expect, it } from 'vitest';
import { COMMANDS, OPTIONS, helpText, parseAge, parseArgs } from '../../src/cli/args.ts';
import { checkNpmFlags, flagsNpmTook } from '../../src/cli/npm-flags.ts';
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

  it('parses each value once, into its type: counts and ages as numbers, choices as their names', () => {
    const a = parseArgs(['run', 'f', '--jobs', '2', '--backend', 'cpu', '--executor', 'local']);
    expect(a.options).toEqual({ jobs: 2, backend: 'cpu', executor: 'local' });
    expect(parseArgs(['cache', 'gc', '--older-than', '12h']).options['older-than']).toBe(12 * 3600e3);
    expect(parseArgs(['worker', '--redis', 'redis://h:1', '--lock-ms', '500']).options['lock-ms']).toBe(500);
    expect(usageError(['run', 'f', '--jobs', '0'])).toBe("--jobs expects a whole number from 1 to 64, got '0'");
    expect(usageError(['run', 'f', '--jobs', '100000'])).toContain('from 1 to 64');
    expect(usageError(['run', 'f', '--jobs', '99999999999999999999'])).toContain('from 1 to 64');
    expect(usageError(['run', 'f', '--jobs', '2.5'])).toContain('whole number');
    expect(usageError(['cache', 'gc', '--older-than', 'soon'])).toContain('7d, 12h, 30m or 45s');
    expect(parseArgs(['run', 'f', '--kernel-threads', '1']).options['kernel-threads']).toBe(1);
    expect(parseArgs(['run', 'f', '--kernel-threads', 'auto']).options['kernel-threads']).toBe('auto');
    expect(parseArgs(['worker', '--ipc', '--kernel-threads', '2']).options['kernel-threads']).toBe(2);
    expect(usageError(['run', 'f', '--kernel-threads', '3'])).toBe("--kernel-threads expects a whole number from 1 to 2, got '3'");
  });

  it('refuses an empty folder rather than writing into the working folder', () => {
    expect(usageError(['run', 'f', '--runs-dir', ''])).toBe('--runs-dir needs a folder, got an empty string; leave the option out to use the default');
    expect(usageError(['cache', 'ls', '--cache-dir='])).toContain('--cache-dir needs a folder');
  });

  it('knows --version, -v and help COMMAND', () => {
    expect(parseArgs(['--version'])).toEqual({ command: null, positionals: [], options: {}, version: true });
    expect(parseArgs(['-v']).version).toBe(true);
    expect(parseArgs(['help', 'run'])).toEqual({ command: 'run', positionals: [], options: { help: true } });
    expect(parseArgs(['help']).options.help).toBe(true);
    expect(usageError(['help', 'rnu'])).toContain("did you mean 'run'?");
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

  it('hides kdq-internal options and says what an option does for this command', () => {
    expect(helpText('worker')).not.toContain('--ipc');
    expect(usageError(['worker', '--ip'])).not.toContain('--ipc');
    expect(helpText('validate')).toMatch(/--sweep .*nothing runs/);
    expect(helpText('validate')).not.toContain('run folder');
    expect(helpText(null)).toContain("'kdq help COMMAND'");
  });
});

describe('flags npm kept for itself', () => {
  const npmEnv = (extra: Record<string, string>) => ({ npm_lifecycle_event: 'exp', npm_config_loglevel: 'silent', ...extra });

  it('finds the kdq options npm consumed (npm run exp FILE --dry-run --set a=1) and says to put -- first', () => {
    expect(flagsNpmTook(npmEnv({ npm_config_dry_run: 'true', npm_config_set: 'true', npm_config_force_stage: 'true' }))).toEqual([
      '--set',
      '--force-stage',
      '--dry-run',
    ]);
    expect(() => checkNpmFlags(['run', 'experiments/kd-mnist.yaml', 'a=1'], npmEnv({ npm_config_dry_run: 'true', npm_config_set: 'true' }))).toThrow(
      "npm took --set, --dry-run for itself, so kdq never saw them (a value after them arrived as a stray argument); put -- between the script and kdq's arguments, e.g. npm run exp -- experiments/kd-mnist.yaml --set --dry-run",
    );
  });

  it("says nothing outside npm, or when npm took none of kdq's options", () => {
    expect(flagsNpmTook({ npm_config_dry_run: 'true' })).toEqual([]);
    expect(flagsNpmTook(npmEnv({}))).toEqual([]);
    expect(() => checkNpmFlags(['run', 'f'], npmEnv({}))).not.toThrow();
  });
});

describe('parseAge', () => {
  it('parses units and rejects junk', () => {
    expect(parseAge('7d')).toBe(7 * 86400e3);
    expect(parseAge('30m')).toBe(30 * 60e3);
    expect(() => parseAge('soon')).toThrow(/7d, 12h, 30m or 45s/);
  });
});
