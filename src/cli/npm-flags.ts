/**
 * `npm run exp FILE --dry-run` never shows kdq its `--dry-run`: npm takes every `--flag` after the
 * script name for its own configuration (and leaves a flag's value behind as an argument), unless
 * `--` comes first. What npm took is still visible in the environment it gives the script, as
 * `npm_config_<flag>`; kdq refuses to go on without it rather than silently run for real.
 */
import { KdqError } from '../errors.ts';
import { OPTIONS } from './args.ts';

/** The kdq options npm consumed, as `--flag`, when kdq runs from an npm script; empty otherwise. */
export function flagsNpmTook(env: Record<string, string | undefined>): string[] {
  if (env.npm_lifecycle_event === undefined) return [];
  return Object.keys(OPTIONS)
    .filter((name) => env[`npm_config_${name.replace(/-/g, '_')}`] !== undefined)
    .map((name) => `--${name}`);
}

/** Throws E_USAGE when npm took kdq options for itself; `argv` is what kdq received. */
export function checkNpmFlags(argv: readonly string[], env: Record<string, string | undefined>): void {
  const took = flagsNpmTook(env);
  if (took.length === 0) return;
  const script = env.npm_lifecycle_event ?? 'exp';
  // The `exp` script itself supplies `run`; the user typed what follows it.
  const typed = script === 'exp' && argv[0] === 'run' ? argv.slice(1) : argv;
  const file = typed.find((a) => !a.startsWith('-')) ?? 'FILE';
  const them = took.length === 1 ? 'it' : 'them';
  throw new KdqError(
    'E_USAGE',
    `npm took ${took.join(', ')} for itself, so kdq never saw ${them} (a value after ${them} arrived as a stray argument); ` +
      `put -- between the script and kdq's arguments, e.g. npm run ${script} -- ${file} ${took.join(' ')}`,
  );
}
