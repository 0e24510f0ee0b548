/** gitState: the short commit and the dirty flag of a real repository; null outside one, never an error. */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gitState } from '../../src/util/git-state.ts';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'kdq-git-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const git = (dir: string, ...args: string[]) =>
  execFileSync('git', ['-C', dir, '-c', 'user.name=t', '-c', 'user.email=t@example.invalid', ...args], { encoding: 'utf8' }).trim();

describe('gitState', () => {
  it('names HEAD by its short hash, and says when the work tree has changes', async () => {
    const repo = join(root, 'repo');
    await mkdir(join(repo, 'experiments'), { recursive: true });
    git(repo, 'init', '-q');
    await writeFile(join(repo, 'experiments', 'a.yaml'), 'name: a\n');
    git(repo, 'add', '.');
    git(repo, 'commit', '-q', '-m', 'a');
    const head = git(repo, 'rev-parse', '--short', 'HEAD');
    expect(await gitState(join(repo, 'experiments'))).toEqual({ commit: head, dirty: false });
    await writeFile(join(repo, 'experiments', 'a.yaml'), 'name: b\n');
    expect(await gitState(join(repo, 'experiments'))).toEqual({ commit: head, dirty: true });
  });

  it('is null outside a repository, in a repository without commits, and for a missing folder', async () => {
    const plain = join(root, 'plain');
    await mkdir(plain);
    // A folder under the temp dir could sit inside some repository; GIT_CEILING_DIRECTORIES is not ours to set, so check first.
    const inside = (() => {
      try {
        execFileSync('git', ['-C', plain, 'rev-parse', '--git-dir'], { stdio: 'ignore' });
        return true;
      } catch {
        return false;
      }
    })();
    if (!inside) expect(await gitState(plain)).toBeNull();
    const empty = join(root, 'empty');
    await mkdir(empty);
    git(empty, 'init', '-q');
    expect(await gitState(empty)).toBeNull();
    expect(await gitState(join(root, 'nope'))).toBeNull();
  });
});
