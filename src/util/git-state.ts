/**
 * The git commit of the repository holding a file, for the run header: which version of the
 * experiment produced the run. Git missing, a folder outside any repository, or git too slow is
 * not an error: the run just has no commit to name.
 */
import { execFile } from 'node:child_process';

export interface GitState {
  /** Short hash of HEAD. */
  commit: string;
  /** Whether `git status --porcelain` listed anything; null when it did not answer in time. */
  dirty: boolean | null;
}

/** How long each git command may take before the commit (or its dirty flag) is left out. */
export const GIT_TIMEOUT_MS = 3000;

function git(dir: string, args: string[], timeoutMs: number): Promise<string | null> {
  return new Promise((resolve) => {
    // GIT_OPTIONAL_LOCKS=0: status must not take the index lock a concurrent `git commit` needs.
    execFile('git', ['-C', dir, ...args], { timeout: timeoutMs, encoding: 'utf8', env: { ...process.env, GIT_OPTIONAL_LOCKS: '0' } }, (err, stdout) =>
      resolve(err ? null : stdout),
    );
  });
}

/** HEAD of the repository containing `dir` and whether its work tree has changes; null outside a repository or without git. */
export async function gitState(dir: string, timeoutMs = GIT_TIMEOUT_MS): Promise<GitState | null> {
  const head = await git(dir, ['rev-parse', '--short', 'HEAD'], timeoutMs);
  const commit = head?.trim();
  if (!commit || !/^[0-9a-f]{4,64}$/.test(commit)) return null;
  const status = await git(dir, ['status', '--porcelain'], timeoutMs);
  return { commit, dirty: status === null ? null : status.trim() !== '' };
}
