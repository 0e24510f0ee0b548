/**
 * kdq from another project's repository (issue 22.6): `npm pack` (its `prepare` builds dist/) in a
 * copy of the sources, then a copy of examples/own-project installs the tarball with `npm ci` and
 * runs `kdq --version`, `kdq validate`, a small `kdq run` and `kdq runs` from node_modules/.bin.
 *
 * Offline: the project's package-lock.json is written from kdq's own lock (kdq's production
 * dependencies, resolved and with their integrity), so `npm ci --offline` takes every tarball from
 * the npm cache and asks the registry nothing. Where the cache lacks one, the install falls back
 * to `--prefer-offline` (the registry for what is missing) and says so.
 */
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = new URL('../..', import.meta.url).pathname;
const EXAMPLE = join(ROOT, 'examples', 'own-project');
let root: string;
let tarball: string;
let project: string;
let packed: { size: number; unpackedSize: number; files: string[] };
let installLog = '';

interface LockEntry {
  dev?: boolean;
  [key: string]: unknown;
}

/** The consumer's package-lock.json: kdq from the tarball, and kdq's own production dependencies as kdq's lock resolves them. */
async function consumerLock(spec: string, tgz: string, name: string): Promise<object> {
  const lock = JSON.parse(await readFile(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
  const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as Record<string, unknown>;
  const integrity = `sha512-${createHash('sha512')
    .update(await readFile(tgz))
    .digest('base64')}`;
  const packages: Record<string, object> = {
    '': { name, devDependencies: { kdq: spec } },
    'node_modules/kdq': {
      version: pkg.version,
      resolved: spec,
      integrity,
      dev: true,
      license: pkg.license,
      dependencies: pkg.dependencies,
      optionalDependencies: pkg.optionalDependencies,
      bin: pkg.bin,
      engines: pkg.engines,
    },
  };
  // Hoisted as in kdq's own install: the same paths under the project's node_modules.
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (path === '' || entry.dev === true) continue;
    packages[path] = { ...entry, dev: true };
  }
  return { name, lockfileVersion: 3, requires: true, packages };
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'kdq-pack-'));
  // Pack a copy: `prepare` rebuilds dist/, which other test files may be running from.
  const src = join(root, 'kdq');
  await mkdir(src);
  for (const f of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'README.md', 'bin', 'src', 'schemas']) {
    await cp(join(ROOT, f), join(src, f), { recursive: true });
  }
  await symlink(join(ROOT, 'node_modules'), join(src, 'node_modules'));
  const pack = await execa('npm', ['pack', '--json', '--pack-destination', root], { cwd: src });
  const info = JSON.parse(pack.stdout) as { filename: string; size: number; unpackedSize: number; files: { path: string }[] }[];
  tarball = join(root, info[0]!.filename);
  packed = { size: info[0]!.size, unpackedSize: info[0]!.unpackedSize, files: info[0]!.files.map((f) => f.path) };

  project = join(root, 'project');
  await cp(EXAMPLE, project, { recursive: true, filter: (p) => !/\/(node_modules|runs|vendor)(\/|$)/.test(p.slice(EXAMPLE.length)) });
  const pj = JSON.parse(await readFile(join(project, 'package.json'), 'utf8')) as { name: string; devDependencies: Record<string, string> };
  const spec = pj.devDependencies.kdq!;
  expect(spec, 'examples/own-project/package.json names the tarball npm pack writes').toBe(`file:vendor/${info[0]!.filename}`);
  await mkdir(join(project, 'vendor'));
  await cp(tarball, join(project, 'vendor', info[0]!.filename));
  await writeFile(join(project, 'package-lock.json'), JSON.stringify(await consumerLock(spec, tarball, pj.name), null, 2));
  const npmCi = (mode: string) => execa('npm', ['ci', mode, '--no-audit', '--no-fund'], { cwd: project, reject: false, all: true });
  let r = await npmCi('--offline');
  installLog = `npm ci --offline: exit ${r.exitCode}`;
  if (r.exitCode !== 0 && /ENOTCACHED/.test(r.all ?? '')) {
    r = await npmCi('--prefer-offline');
    installLog += `; not all in the npm cache, npm ci --prefer-offline: exit ${r.exitCode}`;
  }
  if (r.exitCode !== 0) throw new Error(`${installLog}\n${r.all}`);
}, 900_000);

afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

const kdq = (...args: string[]) => execa(join(project, 'node_modules', '.bin', 'kdq'), args, { cwd: project, reject: false });

describe('the packed kdq', () => {
  it('holds the compiled code, the entry and the schemas, and no sources, tests or data', () => {
    expect(packed.files).toEqual(expect.arrayContaining(['bin/kdq.mjs', 'dist/cli.js', 'dist/.stamp', 'schemas/experiment.schema.json', 'package.json']));
    expect(packed.files.filter((f) => /^(src|test|bench|scripts|examples|data|experiments)\//.test(f) || f.endsWith('.map'))).toEqual([]);
    expect(packed.size).toBeLessThan(1024 * 1024);
  });

  it('installs into another project with a kdq bin that runs dist/ (no src/, nothing built at install)', async () => {
    const installed = join(project, 'node_modules', 'kdq');
    expect((await readdir(installed)).sort()).toEqual(['README.md', 'bin', 'dist', 'package.json', 'schemas']);
    const v = await kdq('--version');
    expect(v.stdout, installLog).toMatch(/^kdq \d+\.\d+\.\d+/);
    expect(v.stderr).toBe('');
  });

  it("puts the schema where the example's modeline points", async () => {
    const file = join(project, 'experiments', 'digits.yaml');
    const modeline = /^# yaml-language-server: \$schema=(\S+)$/.exec((await readFile(file, 'utf8')).split('\n')[0]!)![1]!;
    const schema = resolve(dirname(file), modeline);
    expect(schema).toBe(join(project, 'node_modules', 'kdq', 'schemas', 'experiment.schema.json'));
    expect((await stat(schema)).isFile()).toBe(true);
  });

  it("validates and runs the project's own experiment on its own data, and lists the run", { timeout: 600_000 }, async () => {
    const v = await kdq('validate', 'experiments/digits.yaml');
    expect(v.stdout).toMatch(
      /^experiments\/digits\.yaml: ok \(\d+ stages, 1 seed\)\nexperiments\/digits\.yaml: data: input \[28, 28, 1\] uint8, 10 classes, 300 training \/ 100 test examples$/,
    );
    const r = await kdq('run', 'experiments/digits.yaml', '--backend', 'wasm');
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain('digits: 300 training / 100 test examples, backend wasm');
    const m = JSON.parse(await readFile(join(project, 'runs', 'digits', 'latest', 'metrics.json'), 'utf8')) as { data: { source: string } };
    expect(m.data.source).toBe('idx');
    const runs = await kdq('runs');
    expect(runs.stdout.trim().split('\n')).toHaveLength(2);
  });
});
