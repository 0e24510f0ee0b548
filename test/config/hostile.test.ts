/**
 * Hostile experiment files: documents built to exhaust memory or the stack are refused with a
 * ConfigError before they are expanded, and nothing in a file is ever run as code. Assertions are
 * on error codes, messages and heap growth, not on wall time (the test machine is shared).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { loadExperiment } from '../../src/config/load.ts';
import { MAX_DEPTH, MAX_FILE_BYTES, tooDeep } from '../../src/config/yaml-source.ts';
import { ConfigError } from '../../src/errors.ts';
import { main } from '../../src/cli.ts';

const tmp = mkdtempSync(path.join(tmpdir(), 'kdq-hostile-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const NETS = 'teacher:\n  layers: [{ type: flatten }, { type: dense, units: 10 }]\nstudent:\n  layers: [{ type: flatten }, { type: dense, units: 10 }]\n';
const MB = 1024 * 1024;

function write(name: string, text: string): string {
  const file = path.join(tmp, name);
  writeFileSync(file, text);
  return file;
}

/** Loads `file`, expecting a ConfigError; returns it and how much the heap grew meanwhile (bytes). */
async function rejectMeasured(file: string): Promise<{ err: ConfigError; heapGrowth: number }> {
  const before = process.memoryUsage().heapUsed;
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().heapUsed)), 1);
  const err = await loadExperiment(file).then(
    () => undefined,
    (e: unknown) => e,
  );
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().heapUsed);
  expect(err).toBeInstanceOf(ConfigError);
  return { err: err as ConfigError, heapGrowth: peak - before };
}

describe('documents built to exhaust the parser', () => {
  it('an alias bomb (10^12 nodes when expanded) is refused with E_CONFIG and a small heap', async () => {
    const levels = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 12; i++) {
      const prev = String.fromCharCode(96 + i);
      levels.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10).fill(`*${prev}`).join(', ')}]`);
    }
    const { err, heapGrowth } = await rejectMeasured(write('bomb.yaml', `name: bomb\n${NETS}${levels.join('\n')}\n`));
    expect(err.code).toBe('E_CONFIG');
    expect(err.exitCode).toBe(2);
    expect(err.issues[0]!.message).toContain('aliases expand too much');
    expect(heapGrowth).toBeLessThan(32 * MB);
  });

  it('a file over the size limit is refused from its size alone, without reading it', async () => {
    const file = write('huge.yaml', `name: huge\ndescription: '${'x'.repeat(8 * MB)}'\n`);
    const { err, heapGrowth } = await rejectMeasured(file);
    expect(err.issues).toHaveLength(1);
    expect(err.issues[0]!.message).toContain(`over the ${MAX_FILE_BYTES}-byte limit`);
    // Reading the 8 MiB file would have grown the heap by at least 8 MiB.
    expect(heapGrowth).toBeLessThan(4 * MB);
  });

  it('deeply nested flow collections are refused before parsing, at the line where they get too deep', async () => {
    // 15,000 levels overflowed the YAML parser's stack (after seconds of work) before the depth scan.
    const file = write('deep-flow.yaml', `name: deep\n${NETS}description: ${'['.repeat(15_000)}${']'.repeat(15_000)}\n`);
    const { err, heapGrowth } = await rejectMeasured(file);
    expect(err.issues).toHaveLength(1);
    expect(err.issues[0]).toMatchObject({ line: 6, col: 14 + MAX_DEPTH, path: '' });
    expect(err.issues[0]!.message).toContain(`nesting deeper than ${MAX_DEPTH} levels`);
    expect(heapGrowth).toBeLessThan(16 * MB);
  });

  it('deeply nested block mappings are refused before parsing', async () => {
    // Two columns a level: the last line is indented past MAX_DEPTH * 4 columns.
    const lines = Array.from({ length: MAX_DEPTH * 2 + 2 }, (_, i) => `${' '.repeat(2 * i)}k:`);
    const { err } = await rejectMeasured(write('deep-block.yaml', `name: deep\n${lines.join('\n')} 1\n`));
    expect(err.issues[0]!.message).toContain(`nesting deeper than ${MAX_DEPTH} levels`);
  });

  it('a document of many tiny items parses with a bounded heap and is rejected for its content', async () => {
    // 2,000 items, a quarter of what fits under the limit (parsing costs about 0.1-1 ms per item).
    const items = Array.from({ length: 2000 }, (_, i) => `[${i % 10}]`).join(',');
    const file = write('wide.yaml', `name: wide\n${NETS}extra: [${items}]\n`);
    const { err, heapGrowth } = await rejectMeasured(file);
    expect(err.issues.map((i) => i.message).join('\n')).toContain("unknown key 'extra'");
    expect(heapGrowth).toBeLessThan(100 * MB);
  });

  it('brackets inside quoted strings and comments do not count as nesting', () => {
    const deepText = '['.repeat(MAX_DEPTH + 10);
    expect(tooDeep(`description: "${deepText}"\n`)).toBeUndefined();
    expect(tooDeep(`description: '${deepText} it''s'\n`)).toBeUndefined();
    expect(tooDeep(`# ${deepText}\nname: x\n`)).toBeUndefined();
    expect(tooDeep(`description: it's ${'['.repeat(MAX_DEPTH + 1)}\n`)).toEqual({ line: 1, col: 19 + MAX_DEPTH });
    expect(tooDeep(`a: ${'['.repeat(MAX_DEPTH)}${']'.repeat(MAX_DEPTH)}\n`)).toBeUndefined();
  });
});

describe('nothing in a config file runs as code', () => {
  it('JavaScript tags are refused, whatever their spelling', async () => {
    for (const tag of ['!!js/function', '!!js/regexp', '!!js/undefined', '!<tag:yaml.org,2002:js/function>', '!!python/object/apply:os.system']) {
      const { err } = await rejectMeasured(write('tag.yaml', `name: tagged\n${NETS}description: ${tag} "function () { process.exit(7) }"\n`));
      expect(err.issues[0]!.message, tag).toContain('is not allowed: an experiment file is plain data and nothing in it runs as code');
    }
  });

  it('values that look like code or shell commands stay plain strings', async () => {
    const marker = path.join(tmp, 'pwned');
    const payloads = [
      `$(touch ${marker})`,
      `\`touch ${marker}\``,
      `\${require('fs').writeFileSync('${marker}', '')}`,
      `{{ constructor.constructor('return process')() }}`,
    ];
    for (const p of payloads) {
      const file = write('code.yaml', `name: code\n${NETS}description: ${JSON.stringify(p)}\n`);
      const { experiment } = await loadExperiment(file);
      expect(experiment.description).toBe(p);
    }
    expect(existsSync(marker)).toBe(false);
  });

  it('__proto__ and constructor keys are unknown keys, and no object prototype changes', async () => {
    const file = write('proto.yaml', `name: proto\n${NETS}__proto__: { polluted: yes }\ndistillation:\n  constructor: { prototype: { polluted: yes } }\n`);
    const { err } = await rejectMeasured(file);
    const messages = err.issues.map((i) => `${i.path}: ${i.message}`).join('\n');
    expect(messages).toContain("unknown key '__proto__'");
    expect(messages).toContain("unknown key 'constructor'");
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((Object.prototype as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('experiment names cannot leave the runs folder', () => {
  const io = (append: (s: string) => void) => {
    const stream = new Writable({
      write(chunk, _enc, cb) {
        append(String(chunk));
        cb();
      },
    });
    return { stdout: stream, stderr: stream };
  };

  it.each(['../x', '../../etc/cron.d/x', '/tmp/x', 'a/b', 'a\\b', '.', '..', '.hidden', 'x\u0000y', 'x\ny'])(
    '--set name=%j is a config error and kdq run writes nothing',
    async (name) => {
      const file = write('named.yaml', `name: ok\n${NETS}`);
      const root = mkdtempSync(path.join(tmp, 'names-'));
      const runsDir = path.join(root, 'runs', 'inner');
      let text = '';
      const code = await main(
        ['run', file, '--set', `name=${name}`, '--runs-dir', runsDir, '--cache-dir', path.join(root, 'cache')],
        io((s) => (text += s)),
      );
      expect(code).toBe(2);
      expect(text).toMatch(/--set name=.*: name: .*is not a valid name/s);
      expect(text).not.toMatch(/\n\s+at /);
      // Nothing at all under the scratch root: not the runs folder, not its parent, not the cache.
      expect(existsSync(path.join(root, 'runs'))).toBe(false);
      expect(existsSync(path.join(root, 'cache'))).toBe(false);
      expect(existsSync(path.join(root, 'x'))).toBe(false);
    },
  );

  it('a NUL in a name is shown escaped in the error, never sent raw to the terminal', async () => {
    const { err } = await rejectMeasured(write('nul.yaml', `name: "kd\\0mnist"\n${NETS}`));
    expect(err.issues[0]!.message).toContain("'kd\\u0000mnist' is not a valid name");
    expect(err.message).not.toContain('\u0000');
  });
});

describe('special files named by an experiment', () => {
  it('an extends or data file that is a FIFO is named as one, without blocking on it', { timeout: 20_000 }, async () => {
    const fifo = path.join(tmp, 'base.fifo');
    execFileSync('mkfifo', [fifo]);
    const ext = await rejectMeasured(write('extends-fifo.yaml', `extends: base.fifo\nname: x\n${NETS}`));
    expect(ext.err.issues[0]!.message).toContain("base file 'base.fifo' is a FIFO (named pipe), not a regular file");
    const files = `  files: { trainImages: base.fifo, trainLabels: base.fifo, testImages: base.fifo, testLabels: base.fifo }\n`;
    const data = await rejectMeasured(write('data-fifo.yaml', `name: x\ndata:\n  source: idx\n${files}${NETS}`));
    expect(data.err.issues.map((i) => i.path)).toEqual(['data.files.trainImages', 'data.files.trainLabels', 'data.files.testImages', 'data.files.testLabels']);
    expect(data.err.issues[0]!.message).toContain("file 'base.fifo' is a FIFO (named pipe), not a regular file");
  });
});
