/**
 * The command line as data: commands, their options as a typed table, and a pure parser with
 * its own tests. Nothing here prints or exits.
 */
import { BACKENDS, EXECUTORS } from '../names.ts';
import { MAX_KERNEL_THREADS } from '../backend/intra-op/threads.ts';

/** More worker processes than this cannot help on any machine kdq trains on, and each costs memory. */
export const MAX_JOBS = 64;
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
  /** A string option's value from its text; throws KdqError E_USAGE with the fix. */
  parse?: (text: string, flag: string) => unknown;
  /** Not shown in help (used by kdq itself). */
  internal?: boolean;
}

export interface CommandSpec {
  summary: string;
  usage: string;
  /** Minimum and maximum number of positional arguments (Infinity: any). */
  positionals: [number, number];
  options: readonly string[];
  /** Help text of an option for this command, where it differs from the shared table's. */
  help?: Record<string, string>;
}

/** Parses a positive whole number (at most `max`) such as `--jobs 2`. */
export function count(max: number): (text: string, flag: string) => number {
  return (text, flag) => {
    const t = text.trim();
    if (!/^\d+$/.test(t) || Number(t) < 1 || Number(t) > max) throw usageError(`${flag} expects a whole number from 1 to ${max}, got '${text}'`);
    return Number(t);
  };
}

/** Parses an age such as `7d`, `12h`, `30m`, `45s` into milliseconds. */
export function parseAge(text: string, flag = '--older-than'): number {
  const m = /^(\d+(?:\.\d+)?)\s*(s|m|h|d)$/.exec(text.trim());
  if (!m) throw usageError(`${flag} expects an age like 7d, 12h, 30m or 45s, got '${text}'`);
  const unit = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3 }[m[2] as 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * unit;
}

function choice<T extends string>(values: readonly T[]): (text: string) => T {
  // parseArgs checks `choices` first, so this only narrows the type.
  return (text) => values.find((v) => v === text) as T;
}

function sortKey(text: string, flag: string): string {
  if (text.replace(/^-/, '').trim() === '')
    throw usageError(`${flag} needs a key such as int8_acc, kd_gain or distillation.temperature ('-KEY' sorts descending), got '${text}'`);
  return text.trim();
}

function folder(text: string, flag: string): string {
  if (text.trim() === '') throw usageError(`${flag} needs a folder, got an empty string; leave the option out to use the default`);
  return text;
}

/** Every option of every command: one table, so help, parsing and the types of the values cannot disagree. */
export const OPTIONS = {
  set: { kind: 'list', arg: 'key.path=value', help: 'override a key of the experiment file (repeatable); validated like the file' },
  force: { kind: 'boolean', help: 'rerun every stage, ignoring cached results' },
  'force-stage': { kind: 'list', arg: 'NAME', help: 'rerun this stage (id or kind, e.g. teacher) and its dependents (repeatable)' },
  'dry-run': { kind: 'boolean', help: 'show what would run and why, run nothing' },
  backend: {
    kind: 'string',
    arg: 'NAME',
    choices: BACKENDS,
    parse: choice(BACKENDS),
    help: `tf.js backend: ${BACKENDS.join(' | ')} (default: node if installed, else wasm)`,
  },
  'cache-dir': { kind: 'string', arg: 'DIR', parse: folder, help: 'cache folder (default $KDQ_CACHE_DIR or runs/.cache)' },
  'runs-dir': { kind: 'string', arg: 'DIR', parse: folder, help: 'folder of run outputs (default runs)' },
  dot: { kind: 'boolean', help: 'print the graph in Graphviz dot format' },
  explain: { kind: 'boolean', help: 'say for each stage whether it is cached, and why not' },
  sweep: { kind: 'list', arg: 'key.path=v1,v2,...', help: 'sweep this key over these values (repeatable: a grid); one run folder per point plus a summary' },
  jobs: {
    kind: 'string',
    arg: 'N|auto',
    parse: (text: string, flag: string): number | 'auto' => (text === 'auto' ? 'auto' : count(MAX_JOBS)(text, flag)),
    help: `compute independent stages in N worker processes on this machine (1 to ${MAX_JOBS}: 1 runs everything in this process); default auto: one per core, up to 4, and 1 with --force, --force-stage or --dry-run`,
  },
  'kernel-threads': {
    kind: 'string',
    arg: 'N|auto',
    parse: (text: string, flag: string): number | 'auto' => (text === 'auto' ? 'auto' : count(MAX_KERNEL_THREADS)(text, flag)),
    help: `threads a stage's kernels use on the wasm backend (1 to ${MAX_KERNEL_THREADS}); default auto: one per core, up to ${MAX_KERNEL_THREADS}. While as many stages run as there are cores, each uses 1. Any value gives the same bits`,
  },
  executor: {
    kind: 'string',
    arg: 'NAME',
    choices: EXECUTORS,
    parse: choice(EXECUTORS),
    help: `where stages run: ${EXECUTORS.join(' | ')} (bullmq: workers started with 'kdq worker', through Redis)`,
  },
  redis: { kind: 'string', arg: 'URL', help: 'Redis of the BullMQ queue, e.g. redis://127.0.0.1:6379' },
  ipc: { kind: 'boolean', internal: true, help: 'take stages from the parent kdq process (what --jobs starts)' },
  'lock-ms': {
    kind: 'string',
    arg: 'MS',
    parse: count(24 * 3600 * 1000),
    help: 'a stage whose worker sends no heartbeat for this long is given to another worker (default 30000)',
  },
  'older-than': {
    kind: 'string',
    arg: 'AGE',
    parse: parseAge,
    help: "with gc: also drop entries not used for AGE (e.g. 7d, 12h, 30m), even ones run folders or failed runs use (a running run's are kept)",
  },
  experiment: { kind: 'string', arg: 'NAME', help: "with ls: the stages of this experiment's runs and their cache entries (same as 'kdq cache ls NAME')" },
  all: { kind: 'boolean', help: 'list every metric, unchanged ones too (default: the headline metrics that changed)' },
  only: {
    kind: 'list',
    arg: 'GLOB',
    help: "list the metrics whose dotted paths match GLOB instead ('*' within a segment, '**' across; repeatable), e.g. 'models.student_int8.**'",
  },
  md: { kind: 'boolean', help: 'print GitHub Markdown tables (for a pull-request comment)' },
  json: { kind: 'boolean', help: 'print the comparison as JSON' },
  'fail-on': {
    kind: 'list',
    arg: 'EXPR',
    help: "exit 1 when EXPR holds, e.g. 'models.student_int8.tflite.accuracy < -0.005' (a bare metric path is its change, new - old; repeatable)",
  },
  sort: {
    kind: 'string',
    arg: '[-]KEY',
    parse: sortKey,
    help: "order by this value, '-KEY' descending: a column (int8_acc, kd_gain, wall...), a metrics.json or config.yaml path (default: start time)",
  },
  where: {
    kind: 'list',
    arg: 'EXPR',
    help: "list only the runs where EXPR holds, the --fail-on language over one run, e.g. 'int8_acc >= 0.97 and distillation.temperature > 2' (repeatable: all hold)",
  },
  csv: { kind: 'boolean', help: 'print the table as CSV: every differing setting, values as stored (fractions, seconds)' },
  debug: { kind: 'boolean', help: 'print stack traces of errors' },
  help: { kind: 'boolean', help: 'show help' },
} as const satisfies Record<string, OptionSpec>;

export type OptionName = keyof typeof OPTIONS;

type ValueOf<O> = O extends { kind: 'boolean' }
  ? boolean
  : O extends { kind: 'list' }
    ? string[]
    : O extends { parse: (text: string, flag: string) => infer T }
      ? T
      : string;

/** Each option's value, typed by its table entry: booleans, lists of strings, or what its `parse` returns. */
export type OptionValues = { -readonly [N in OptionName]?: ValueOf<(typeof OPTIONS)[N]> };

const COMMON = ['debug', 'help'] as const;

export const COMMANDS = {
  run: {
    summary: 'run an experiment: train, distill, quantize, export and evaluate, reusing cached stages',
    usage:
      'kdq run FILE [--set key.path=value ...] [--sweep key.path=v1,v2,...] [--jobs N | --executor bullmq --redis URL] [--kernel-threads N] [--force] [--force-stage NAME] [--dry-run] [--backend NAME]',
    positionals: [1, 1],
    options: ['set', 'sweep', 'jobs', 'kernel-threads', 'executor', 'redis', 'force', 'force-stage', 'dry-run', 'backend', 'cache-dir', 'runs-dir', ...COMMON],
  },
  validate: {
    summary: 'check experiment files against the schema, their data (probed, not read whole) and every layer shape; runs nothing',
    usage: 'kdq validate FILE... [--set key.path=value ...] [--sweep key.path=v1,v2,...] [--runs-dir DIR]',
    positionals: [1, Infinity],
    options: ['set', 'sweep', 'runs-dir', ...COMMON],
    help: {
      sweep: 'also check every point of a sweep over this key (repeatable: a grid); nothing runs',
      'runs-dir': 'where kdq run keeps downloads (DIR/.data, default runs): a download already there is probed, none is fetched',
    },
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
    summary:
      "list the cache (ls; 'ls NAME': one experiment's stages), free space without losing work (gc), or re-hash every entry and drop the damaged ones (verify)",
    usage: 'kdq cache ls [NAME | --experiment NAME] | gc [--older-than AGE] | verify   [--cache-dir DIR] [--runs-dir DIR]',
    positionals: [1, 2],
    options: ['experiment', 'cache-dir', 'runs-dir', 'older-than', ...COMMON],
  },
  worker: {
    summary: "compute stages for 'kdq run --executor bullmq' submitters, reading and writing the shared cache",
    usage: 'kdq worker --redis URL [--cache-dir DIR] [--runs-dir DIR] [--lock-ms MS] [--kernel-threads N]',
    positionals: [0, 0],
    options: ['redis', 'ipc', 'lock-ms', 'kernel-threads', 'cache-dir', 'runs-dir', ...COMMON],
  },
  diff: {
    summary: 'compare two runs: the metrics and config keys that changed, and --fail-on regression gates',
    usage:
      "kdq diff OLD NEW [--all] [--only GLOB ...] [--md | --json] [--fail-on 'EXPR' ...] [--runs-dir DIR]  (a run folder, metrics.json, or an experiment name meaning its latest run)",
    positionals: [2, 2],
    options: ['all', 'only', 'md', 'json', 'fail-on', 'runs-dir', ...COMMON],
  },
  runs: {
    summary: "list runs side by side: key metrics and the settings that differ, sorted and filtered; 'kdq runs rm' deletes run folders",
    usage:
      "kdq runs [NAME|RUN-ID|PATH ...] [--sort [-]KEY] [--where 'EXPR' ...] [--md | --json | --csv] [--runs-dir DIR]\n" +
      "       kdq runs rm NAME|RUN-ID|PATH ... [--where 'EXPR' ...] [--dry-run] [--runs-dir DIR] [--cache-dir DIR]",
    positionals: [0, Infinity],
    options: ['sort', 'where', 'md', 'json', 'csv', 'dry-run', 'runs-dir', 'cache-dir', ...COMMON],
    help: {
      md: 'print a GitHub Markdown table (for a pull-request comment or a job summary)',
      json: 'print the runs as JSON: every differing setting, values as stored',
      'dry-run': "with 'rm': list the run folders it would remove and the cache it would leave to gc; remove nothing",
      'cache-dir': "with 'rm': the cache whose entries it counts for 'kdq cache gc' (default $KDQ_CACHE_DIR or runs/.cache)",
    },
  },
} as const satisfies Record<string, CommandSpec>;

export type CommandName = keyof typeof COMMANDS;

export interface ParsedArgs {
  /** Null with `help` or `version`. */
  command: CommandName | null;
  positionals: string[];
  /** booleans are true when given; lists collect every occurrence; strings keep the last, parsed. */
  options: OptionValues;
  /** `kdq --version` (or `-v`). */
  version?: boolean;
}

function usageError(message: string): KdqError {
  return new KdqError('E_USAGE', message);
}

function setOption(out: OptionValues, name: OptionName, value: boolean | string[] | unknown): void {
  (out as Record<string, unknown>)[name] = value;
}

/** Parses argv (without node and script). Throws KdqError('E_USAGE') with a suggestion on bad input. */
export function parseArgs(argv: readonly string[]): ParsedArgs {
  const out: ParsedArgs = { command: null, positionals: [], options: {} };
  const rest = [...argv];
  const first = rest[0];
  if (first === undefined || first === '--help' || first === '-h') return { ...out, options: { help: true } };
  if (first === '--version' || first === '-v') return { ...out, version: true };
  if (first === 'help') {
    // `kdq help run` is `kdq run --help`.
    const topic = rest[1];
    if (topic === undefined) return { ...out, options: { help: true } };
    if (!(topic in COMMANDS)) throw unknownCommand(topic);
    return { ...out, command: topic as CommandName, options: { help: true } };
  }
  if (!(first in COMMANDS)) throw unknownCommand(first);
  const command = first as CommandName;
  const spec: CommandSpec = COMMANDS[command];
  out.command = command;
  rest.shift();
  const lists: Partial<Record<OptionName, string[]>> = {};
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
      const hint = suggestName(name, visibleOptions(spec));
      throw usageError(`unknown option '--${name}' for 'kdq ${command}'${hint ? `; did you mean '--${hint}'?` : ''} (see 'kdq ${command} --help')`);
    }
    const opt: OptionSpec = OPTIONS[name as OptionName];
    if (opt.kind === 'boolean') {
      if (eq !== -1) throw usageError(`option '--${name}' takes no value, got '${token}'`);
      setOption(out.options, name as OptionName, true);
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
      throw usageError(`option '--${name}' must be one of ${opt.choices.join(', ')}, got '${value}'${hint ? `; did you mean '${hint}'?` : ''}`);
    }
    if (opt.kind === 'list') {
      (lists[name as OptionName] ??= []).push(value);
      setOption(out.options, name as OptionName, lists[name as OptionName]);
    } else {
      setOption(out.options, name as OptionName, opt.parse ? opt.parse(value, `--${name}`) : value);
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

function unknownCommand(name: string): KdqError {
  const hint = suggestName(name, Object.keys(COMMANDS));
  return usageError(`unknown command '${name}'${hint ? `; did you mean '${hint}'?` : ''} (commands: ${Object.keys(COMMANDS).join(', ')}, help)`);
}

/** The options a user may type for `spec` (the internal ones are kdq's own). */
function visibleOptions(spec: CommandSpec): string[] {
  return spec.options.filter((n) => !(OPTIONS[n as OptionName] as OptionSpec).internal);
}

/** Help text of one command, or of kdq as a whole, generated from the tables above. */
export function helpText(command: CommandName | null): string {
  if (command === null) {
    const lines = ['kdq: knowledge distillation and int8 quantization experiments from one YAML file', '', 'Usage: kdq COMMAND [options]', '', 'Commands:'];
    for (const [name, c] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(10)} ${c.summary}`);
    lines.push('', "Run 'kdq COMMAND --help' (or 'kdq help COMMAND') for a command's options; 'kdq --version' prints the version.");
    return lines.join('\n');
  }
  const c: CommandSpec = COMMANDS[command];
  const lines = [`Usage: ${c.usage}`, '', c.summary, '', 'Options:'];
  for (const name of visibleOptions(c)) {
    const o: OptionSpec = OPTIONS[name as OptionName];
    const flag = `--${name}${o.arg ? ` ${o.arg}` : ''}`;
    lines.push(`  ${flag.padEnd(26)} ${c.help?.[name] ?? o.help}`);
  }
  return lines.join('\n');
}
