/**
 * Every file in test/fixtures/invalid/ must be rejected with a ConfigError containing the issue
 * its first line announces: `# expect: [FILE:]LINE PATH "message fragment"` (PATH `-` for the
 * whole document; FILE, relative to test/fixtures/, when the error is in a base file).
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadExperiment } from '../../src/config/load.ts';
import { ConfigError, formatIssue } from '../../src/errors.ts';
import { main } from '../../src/cli.ts';
import { Writable } from 'node:stream';

const FIXTURES = path.resolve(import.meta.dirname, '../fixtures');
const INVALID = path.join(FIXTURES, 'invalid');
const EXPECT = /^# expect: (?:(\S+):)?(\d+) (\S+) "(.*)"$/;

interface Expectation {
  file: string;
  line: number;
  path: string;
  fragment: string;
}

function expectationOf(name: string): Expectation {
  const first = readFileSync(path.join(INVALID, name), 'utf8').split('\n')[0]!;
  const m = EXPECT.exec(first);
  if (!m) throw new Error(`${name}: first line must be # expect: LINE PATH "fragment", got ${first}`);
  return {
    file: path.join(m[1] ? FIXTURES : INVALID, m[1] ?? name),
    line: Number(m[2]),
    path: m[3] === '-' ? '' : m[3]!,
    fragment: m[4]!,
  };
}

const files = readdirSync(INVALID)
  .filter((f) => f.endsWith('.yaml'))
  .sort();
const scratch = mkdtempSync(path.join(tmpdir(), 'kdq-invalid-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function sink(append: (s: string) => void): Writable {
  return new Writable({
    write(chunk, _enc, cb) {
      append(String(chunk));
      cb();
    },
  });
}

describe('invalid experiment files', () => {
  it('has at least 40 fixtures', () => {
    expect(files.length).toBeGreaterThanOrEqual(40);
  });

  it.each(files)('%s is rejected at the announced line, key and message', async (name) => {
    const want = expectationOf(name);
    const err = await loadExperiment(path.join(INVALID, name)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err, `${name} loaded without error`).toBeInstanceOf(ConfigError);
    const issues = (err as ConfigError).issues;
    const found = issues.find((i) => path.resolve(i.file) === want.file && i.line === want.line && i.path === want.path && i.message.includes(want.fragment));
    expect(found, `no issue matches ${JSON.stringify(want)}; got:\n${issues.map(formatIssue).join('\n')}`).toBeDefined();
    // Every issue names a place: a real line for file issues, the file for whole-file ones.
    for (const i of issues) {
      expect(i.file).not.toBe('');
      expect(i.message.length).toBeGreaterThan(10);
    }
  });

  it.each(files)('kdq validate %s exits 2 and prints FILE:LINE:COL: key.path: message, no stack trace', async (name) => {
    const want = expectationOf(name);
    let out = '';
    let err = '';
    const code = await main(['validate', path.join(INVALID, name)], { stdout: sink((s) => (out += s)), stderr: sink((s) => (err += s)) });
    expect(code).toBe(2);
    const where = `${path.relative(process.cwd(), want.file)}:${want.line}:`;
    const line = err.split('\n').find((l) => (l.startsWith(where) || l.startsWith(want.file + ':' + want.line + ':')) && l.includes(want.fragment));
    expect(line, `stderr has no line starting ${where} with "${want.fragment}":\n${err}`).toBeDefined();
    if (want.path) expect(line).toContain(`: ${want.path}: `);
    expect(err).not.toMatch(/\n\s+at /);
    expect(out).toBe('');
  });

  it.each(files)('kdq run %s exits 2 before writing anything to the runs folder or the cache', async (name) => {
    const want = expectationOf(name);
    const runsDir = path.join(scratch, name, 'runs');
    const cacheDir = path.join(scratch, name, 'cache');
    let out = '';
    let err = '';
    const code = await main(['run', path.join(INVALID, name), '--runs-dir', runsDir, '--cache-dir', cacheDir], {
      stdout: sink((s) => (out += s)),
      stderr: sink((s) => (err += s)),
    });
    expect(code).toBe(2);
    expect(err).toContain(want.fragment);
    expect(err).not.toMatch(/\n\s+at /);
    expect(out).toBe('');
    expect(existsSync(runsDir), 'the runs folder was created').toBe(false);
    expect(existsSync(cacheDir), 'the cache folder was created').toBe(false);
  });
});
