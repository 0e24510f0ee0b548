/**
 * The command layer: parses argv, calls src/api.ts, prints, and turns errors into exit codes.
 * The only place in kdq that prints errors. Heavy modules (tf.js, the runtimes) are imported
 * lazily by the api functions, so `kdq validate` and `--help` start fast.
 */
import type { Writable } from 'node:stream';
import { COMMANDS, helpText, parseArgs, type ParsedArgs } from './cli/args.ts';
import { checkNpmFlags } from './cli/npm-flags.ts';
import { autoKernelThreads, setKernelThreads } from './backend/intra-op/threads.ts';
import { KdqError, ConfigError, formatIssue } from './errors.ts';

export interface CliIo {
  stdout: Writable;
  stderr: Writable;
}

/** Applies `--kernel-threads` (auto: one per core, up to 2) to this process and returns the count. */
function useKernelThreads(flag: number | 'auto' | undefined): number {
  const threads = flag === undefined || flag === 'auto' ? autoKernelThreads() : flag;
  setKernelThreads(threads);
  return threads;
}

const EXIT_OK = 0;
const EXIT_FAIL = 1;
const EXIT_INVALID = 2;

/** Runs kdq with the given arguments; returns the process exit code. `env` is read for flags npm kept for itself. */
export async function main(
  argv: readonly string[],
  io: CliIo = { stdout: process.stdout, stderr: process.stderr },
  env: Record<string, string | undefined> = process.env,
): Promise<number> {
  const out = (s: string) => io.stdout.write(s.endsWith('\n') ? s : s + '\n');
  const err = (s: string) => io.stderr.write(s.endsWith('\n') ? s : s + '\n');
  let args: ParsedArgs;
  try {
    checkNpmFlags(argv, env);
    args = parseArgs(argv);
  } catch (e) {
    return report(e, argv.includes('--debug'), err);
  }
  const debug = args.options.debug === true;
  if (args.version) {
    const { kdqVersion } = await import('./util/kdq-version.ts');
    out(`kdq ${await kdqVersion()}`);
    return EXIT_OK;
  }
  if (args.options.help || args.command === null) {
    out(helpText(args.command));
    return EXIT_OK;
  }
  const api = await import('./api.ts');
  const o = args.options;
  const common = { set: o.set ?? [], cacheDir: o['cache-dir'], runsDir: o['runs-dir'], backend: o.backend };
  try {
    switch (args.command) {
      case 'validate': {
        let failed = 0;
        for (const file of args.positionals) {
          try {
            const r = await api.validate(file, { set: common.set, sweep: o.sweep ?? [], runsDir: common.runsDir });
            const points = r.points > 0 ? `, ${r.points} sweep point${r.points === 1 ? '' : 's'}` : '';
            out(`${file}: ok (${r.stages} stages, ${r.seeds} seed${r.seeds === 1 ? '' : 's'}${points})`);
            out(`${file}: data: ${r.data}`);
          } catch (e) {
            // A bad experiment file, or a data file it names that is unreadable: the next file still gets checked.
            if (!(e instanceof KdqError) || e.exitCode !== EXIT_INVALID) throw e;
            failed++;
            if (e instanceof ConfigError) for (const issue of e.issues) err(formatIssue(issue));
            else err(`${file}: ${e.message}`);
          }
        }
        if (failed > 0) {
          err(`${failed} of ${args.positionals.length} file(s) invalid`);
          return EXIT_INVALID;
        }
        return EXIT_OK;
      }
      case 'run': {
        const file = args.positionals[0];
        const runOpts = {
          ...common,
          force: o.force === true,
          forceStages: o['force-stage'] ?? [],
          dryRun: o['dry-run'] === true,
          sweep: o.sweep ?? [],
          jobs: o.jobs ?? 'auto',
          kernelThreads: useKernelThreads(o['kernel-threads']),
          executor: o.executor,
          redis: o.redis,
          log: err,
        };
        if (runOpts.redis !== undefined && runOpts.executor !== 'bullmq') {
          throw new KdqError('E_USAGE', '--redis is for --executor bullmq; add --executor bullmq, or drop --redis');
        }
        const loaded = await api.load(file, runOpts);
        if (loaded.sweep) {
          const r = await api.sweep(loaded, runOpts);
          out(r.text);
          out(`sweep summary: ${r.dir}/summary.md (summary.html: accuracy against size, Pareto front)`);
          return r.ok ? EXIT_OK : EXIT_FAIL;
        }
        const r = await api.run(loaded, runOpts);
        out(r.summary);
        return EXIT_OK;
      }
      case 'worker': {
        const { runWorker } = await import('./executor/worker.ts');
        await runWorker({
          ipc: o.ipc === true,
          redis: o.redis,
          cacheDir: api.resolveCacheDir(common),
          runsDir: api.resolveRunsDir(common),
          lockMs: o['lock-ms'],
          kernelThreads: useKernelThreads(o['kernel-threads']),
          log: err,
        });
        return EXIT_OK;
      }
      case 'graph': {
        out(await api.graph(args.positionals[0], { ...common, dot: o.dot === true, explain: o.explain === true }));
        return EXIT_OK;
      }
      case 'inspect': {
        out(await api.inspect(args.positionals[0]));
        return EXIT_OK;
      }
      case 'diff': {
        if (o.md === true && o.json === true) throw new KdqError('E_USAGE', "'kdq diff' prints one format: pass --md or --json, not both");
        const r = await api.diff(args.positionals[0], args.positionals[1], {
          runsDir: common.runsDir,
          all: o.all === true,
          only: o.only ?? [],
          format: o.md === true ? 'md' : o.json === true ? 'json' : 'text',
          failOn: o['fail-on'] ?? [],
        });
        out(r.output);
        if (r.crossed) {
          const crossed = r.diff.gates.filter((g) => g.crossed).map((g) => `'${g.expression}'`);
          err(`kdq: regression gate crossed: ${crossed.join(', ')}`);
          return EXIT_FAIL;
        }
        return EXIT_OK;
      }
      case 'runs': {
        const formats = (['md', 'json', 'csv'] as const).filter((f) => o[f] === true);
        if (formats.length > 1)
          throw new KdqError('E_USAGE', `'kdq runs' prints one format: pass one of --md, --json, --csv, not ${formats.map((f) => `--${f}`).join(' and ')}`);
        const rm = args.positionals[0] === 'rm';
        if (rm && (formats.length > 0 || o.sort !== undefined))
          throw new KdqError('E_USAGE', `'kdq runs rm' prints what it removed as text: drop ${formats.length > 0 ? `--${formats[0]}` : '--sort'}`);
        if (!rm && o['dry-run'] === true) throw new KdqError('E_USAGE', "--dry-run is for 'kdq runs rm' (listing removes nothing): drop it, or add rm");
        const opts = {
          runsDir: common.runsDir,
          cacheDir: common.cacheDir,
          sort: o.sort,
          where: o.where ?? [],
          format: formats[0],
          dryRun: o['dry-run'] === true,
        };
        const r = rm ? await api.runsRm(args.positionals.slice(1), opts) : await api.runs(args.positionals, opts);
        for (const w of r.warnings) err(`warning: ${w}`);
        out(r.output);
        return EXIT_OK;
      }
      case 'cache': {
        const sub = args.positionals[0];
        if (sub !== 'ls' && sub !== 'gc' && sub !== 'verify') {
          throw new KdqError('E_USAGE', `unknown cache command '${sub}': use 'kdq cache ls', 'kdq cache gc' or 'kdq cache verify'`);
        }
        if (o['older-than'] !== undefined && sub !== 'gc') throw new KdqError('E_USAGE', `--older-than is for 'kdq cache gc', not 'kdq cache ${sub}'`);
        const name = args.positionals[1] ?? o.experiment;
        if (name !== undefined && sub !== 'ls')
          throw new KdqError('E_USAGE', `an experiment name is for 'kdq cache ls NAME', not 'kdq cache ${sub}' (gc and verify work on the whole cache)`);
        if (args.positionals[1] !== undefined && o.experiment !== undefined && o.experiment !== args.positionals[1]) {
          throw new KdqError('E_USAGE', `'kdq cache ls ${args.positionals[1]}' and --experiment ${o.experiment} name two experiments: pass one`);
        }
        if (sub === 'ls') out(name === undefined ? await api.cacheLs(common) : await api.cacheLsExperiment({ ...common, experiment: name }));
        else if (sub === 'verify') out((await api.cacheVerify({ ...common, log: err })).text);
        else out(await api.cacheGc({ ...common, olderThanMs: o['older-than'] }));
        return EXIT_OK;
      }
      default: {
        const never: never = args.command;
        throw new KdqError('E_USAGE', `unhandled command ${String(never)} (commands: ${Object.keys(COMMANDS).join(', ')})`);
      }
    }
  } catch (e) {
    return report(e, debug, err);
  }
}

/** Prints an error the way users should see it: no stack trace unless --debug. */
function report(e: unknown, debug: boolean, err: (s: string) => void): number {
  if (e instanceof ConfigError) {
    for (const issue of e.issues) err(formatIssue(issue));
    if (debug) err(e.stack ?? '');
    return EXIT_INVALID;
  }
  if (e instanceof KdqError) {
    err(`kdq: ${e.message}`);
    if (debug) err(e.stack ?? '');
    return e.exitCode;
  }
  err(`kdq: internal error: ${(e as Error)?.message ?? String(e)}`);
  err(debug ? ((e as Error)?.stack ?? '') : 'This is a bug in kdq; rerun with --debug for a stack trace and report it.');
  return EXIT_FAIL;
}
