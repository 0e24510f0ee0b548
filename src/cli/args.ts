/**
 * The command line as data: commands, their options as a typed table, and a pure parser with
 * its own tests. Nothing here prints or exits.
 */
import { BACKENDS, EXECUTORS } from '../names.ts';
import { KdqError } from '../errors.ts';
import { suggest as suggestName } from '../util/suggest.ts';

export type OptionKind = 'boolean' | 'string' | 'list';

export interface OptionSpec {
  kind: OptionKind;
  /** Placeholder shown in help, e.g. `key.path=value`. */
  arg?: string;
  help: string;
  /** Allowed values of a string option. */
  choices?: readonly string[];
}

export interface CommandSpec {
  summary: string;
  usage: string;
  /** Minimum and maximum number of positional arguments (Infinity: any). */
  positionals: [number, number];
  options: readonly string[];
}

/** Every option of every command: one table, so help and parsing cannot disagree. */
export const OPTIONS = {
  set: { kind: 'list', arg: 'key.path=value', help: 'override a key of the experiment file (repeatable); validated like the file' },
  force: { kind: 'boolean', help: 'rerun every stage, ignoring cached results' },
  'force-stage': { kind: 'list', arg: 'NAME', help: 'rerun this stage (id or kind, e.g. teacher) and its dependents (repeatable)' },
  'dry-run': { kind: 'boolean', help: 'show what would run and why, run nothing' },
  backend: { kind: 'string', arg: 'NAME', choices: BACKENDS, help: `tf.js backend: ${BACKENDS.join(' | ')} (default: node if installed, else wasm)` },
  'cache-dir': { kind: 'string', arg: 'DIR', help: 'cache folder (default $KDQ_CACHE_DIR or runs/.cache)' },
  'runs-dir': { kind: 'string', arg: 'DIR', help: 'folder of run outputs (default runs)' },
  dot: { kind: 'boolean', help: 'print the graph in Graphviz dot format' },
  explain: { kind: 'boolean', help: 'say for each stage whether it is cached, and why not' },
  sweep: { kind: 'list', arg: 'key.path=v1,v2,...', help: 'sweep this key over these values (repeatable: a grid); one run folder per point plus a summary' },
  jobs: { kind: 'string', arg: 'N', help: 'compute independent stages in N worker processes on this machine (default 1: in this process)' },
  executor: { kind: 'string', arg: 'NAME', choices: EXECUTORS, help: `where stages run: ${EXECUTORS.join(' | ')} (bullmq: workers started with 'kdq worker', through Redis)` },
  redis: { kind: 'string', arg: 'URL', help: 'Redis of the BullMQ queue, e.g. redis://127.0.0.1:6379' },
  ipc: { kind: 'boolean', help: 'internal: take stages from the parent kdq process (what --jobs starts)' },
  'lock-ms': { kind: 'string', arg: 'MS', help: 'a stage whose worker sends no heartbeat for this long is given to another worker (default 30000)' },
  'older-than': { kind: 'string', arg: 'AGE', help: 'with gc: also drop entries older than AGE (e.g. 7d, 12h, 30m)' },
  all: { kind: 'boolean', help: 'list unchanged metrics too' },
  md: { kind: 'boolean', help: 'print GitHub Markdown tables (for a pull-request comment)' },
  json: { kind: 'boolean', help: 'print the comparison as JSON' },
  'fail-on': {
    kind: 'list',
    arg: 'EXPR',
    help: "exit 1 when EXPR holds, e.g. 'models.student_int8.tflite.accuracy < -0.005' (a bare metric path is its change, new - old; repeatable)",
  },
  debug: { kind: 'boolean', help: 'print stack traces of errors' },
  help: { kind: 'boolean', help: 'show help' },
} as const satisfies Record<string, OptionSpec>;

export type OptionName = keyof typeof OPTIONS;

const COMMON = ['debug', 'help'] as const;

export const COMMANDS = {
  run: {
    summary: 'run an experiment: train, distill, quantize, export and evaluate, reusing cached stages',
    usage: 'kdq run FILE [--set key.path=value ...] [--sweep key.path=v1,v2,...] [--jobs N | --executor bullmq --redis URL] [--force] [--force-stage NAME] [--dry-run] [--backend NAME]',
    positionals: [1, 1],
    options: ['set', 'sweep', 'jobs', 'executor', 'redis', 'force', 'force-stage', 'dry-run', 'backend', 'cache-dir', 'runs-dir', ...COMMON],
  },
  validate: {
    summary: 'check experiment files against the schema, shapes and data paths; runs nothing',
    usage: 'kdq validate FILE... [--set key.path=value ...] [--sweep key.path=v1,v2,...]',
    positionals: [1, Infinity],
    options: ['set', 'sweep', ...COMMON],
  },
  graph: {
    summary: 'print the stage DAG of an experiment',
    usage: 'kdq graph FILE [--dot] [--explain] [--set key.path=value ...]',
    positionals: [1, 1],
    options: ['set', 'dot', 'explain', 'backend', 'cache-dir', 'runs-dir', ...COMMON],
  },
  inspect: {
    summary: 'describe a .tflite file: operators, tensors, shapes, quantization, sizes',
    usage: 'kdq inspect FILE.tflite',
    positionals: [1, 1],
    options: [...COMMON],
  },
  cache: {
    summary: 'list the cache (ls) or drop entries no run folder refers to (gc)',
    usage: 'kdq cache ls|gc [--older-than AGE] [--cache-dir DIR] [--runs-dir DIR]',
    positionals: [1, 1],
    options: ['cache-dir', 'runs-dir', 'older-than', ...COMMON],
  },
  worker: {
    summary: "compute stages for 'kdq run --executor bullmq' submitters, reading and writing the shared cache",
    usage: 'kdq worker --redis URL [--cache-dir DIR] [--runs-dir DIR] [--lock-ms MS]',
    positionals: [0, 0],
    options: ['redis', 'ipc', 'lock-ms', 'cache-dir', 'runs-dir', ...COMMON],
  },
  diff: {
    summary: 'compare two runs: the metrics and config keys that changed, and --fail-on regression gates',
    usage: "kdq diff OLD NEW [--all] [--md | --json] [--fail-on 'EXPR' ...] [--runs-dir DIR]  (a run folder, metrics.json, or an experiment name meaning its latest run)",
    positionals: [2, 2],
    options: ['all', 'md', 'json', 'fail-on', 'runs-dir', ...COMMON],
  },
} as const satisfies Record<string, CommandSpec>;

export type CommandName = keyof typeof COMMANDS;

export interface ParsedArgs {
  command: CommandName | null;
  positionals: string[];
  /** booleans are true when given; lists collect every occurrence; strings keep the last. */
  options: Partial<Record<OptionName, boolean | string | string[]>>;
}

function usageError(message: string): KdqError {
  return new KdqError('E_USAGE', message);
}

/** Parses argv (without node and script). Throws KdqError('E_USAGE') with a suggestion on bad input. */
export function parseArgs(argv: readonly string[]): ParsedArgs {
  const out: ParsedArgs = { command: null, positionals: [], options: {} };
  const rest = [...argv];
  const first = rest[0];
  if (first === undefined || first === '--help' || first === '-h') {
    return { ...out, options: { help: true } };
  }
  if (first === '--version') return { ...out, options: {} , positionals: ['--version'] };
  if (!(first in COMMANDS)) {
    const hint = suggestName(first, Object.keys(COMMANDS));
    throw usageError(`unknown command '${first}'${hint ? `; did you mean '${hint}'?` : ''} (commands: ${Object.keys(COMMANDS).join(', ')})`);
  }
  const command = first as CommandName;
  const spec: CommandSpec = COMMANDS[command];
  out.command = command;
  rest.shift();
  for (let i = 0; i < rest.length; i++) {
    const token = rest[i];
    if (token === '--') {
      out.positionals.push(...rest.slice(i + 1));
      break;
    }
    if (token === '-h') {
      out.options.help = true;
      continue;
    }
    if (!token.startsWith('--')) {
      out.positionals.push(token);
      continue;
    }
    const eq = token.indexOf('=');
    const name = token.slice(2, eq === -1 ? undefined : eq);
    if (!(spec.options as readonly string[]).includes(name)) {
      const hint = suggestName(name, spec.options as readonly string[]);
      throw usageError(
        `unknown option '--${name}' for 'kdq ${command}'${hint ? `; did you mean '--${hint}'?` : ''} (see 'kdq ${command} --help')`,
      );
    }
    const opt: OptionSpec = OPTIONS[name as OptionName];
    if (opt.kind === 'boolean') {
      if (eq !== -1) throw usageError(`option '--${name}' takes no value, got '${token}'`);
      out.options[name as OptionName] = true;
      continue;
    }
    let value: string | undefined;
    if (eq !== -1) value = token.slice(eq + 1);
    else {
      value = rest[i + 1];
      if (value === undefined || value.startsWith('--')) {
        throw usageError(`option '--${name}' needs a value: ${opt.arg ?? 'VALUE'}`);
      }
      i++;
    }
    if (opt.choices && !opt.choices.includes(value)) {
      const hint = suggestName(value, opt.choices);
      throw usageError(
        `option '--${name}' must be one of ${opt.choices.join(', ')}, got '${value}'${hint ? `; did you mean '${hint}'?` : ''}`,
      );
    }
    if (opt.kind === 'list') {
      const prev = out.options[name as OptionName];
      out.options[name as OptionName] = [...(Array.isArray(prev) ? prev : []), value];
    } else {
      out.options[name as OptionName] = value;
    }
  }
  if (!out.options.help) {
    const [min, max] = spec.positionals;
    if (out.positionals.length < min) throw usageError(`'kdq ${command}' needs an argument: ${spec.usage}`);
    if (out.positionals.length > max) {
      throw usageError(`'kdq ${command}' takes ${max} argument(s), got ${out.positionals.length}: ${out.positionals.join(' ')}`);
    }
  }
  return out;
}

/** Help text of one command, or of kdq as a whole, generated from the tables above. */
export function helpText(command: CommandName | null): string {
  if (command === null) {
    const lines = ['kdq: knowledge distillation and int8 quantization experiments from one YAML file', '', 'Usage: kdq COMMAND [options]', '', 'Commands:'];
    for (const [name, c] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(10)} ${c.summary}`);
    lines.push('', "Run 'kdq COMMAND --help' for a command's options.");
    return lines.join('\n');
  }
  const c: CommandSpec = COMMANDS[command];
  const lines = [`Usage: ${c.usage}`, '', c.summary, '', 'Options:'];
  for (const name of c.options) {
    const o: OptionSpec = OPTIONS[name as OptionName];
    const flag = `--${name}${o.arg ? ` ${o.arg}` : ''}`;
    lines.push(`  ${flag.padEnd(26)} ${o.help}`);
  }
  return lines.join('\n');
}

/** Parses an age such as `7d`, `12h`, `30m`, `45s` into milliseconds. */
export function parseAge(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(s|m|h|d)$/.exec(text.trim());
  if (!m) throw usageError(`--older-than expects an age like 7d, 12h, 30m or 45s, got '${text}'`);
  const unit = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3 }[m[2] as 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * unit;
}

/** Parses a positive whole number option such as `--jobs 2`. */
export function parseCount(option: string, text: string): number {
  if (!/^\d+$/.test(text.trim()) || Number(text) < 1) throw usageError(`--${option} expects a whole number of at least 1, got '${text}'`);
  return Number(text);
}
