#!/usr/bin/env node
// Entry point. Runs the compiled JavaScript in dist/ when it is at least as new as every file in
// src/ (a clone builds it with the `prepare` script), so that start-up pays no TypeScript
// transform; otherwise runs src/ through tsx, so an edited checkout never runs stale code. An
// installed package (`npm install kdq-x.y.z.tgz` or a git URL) ships dist/ and no src/: it runs
// dist/ and never builds.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const hasDist = existsSync(join(root, 'dist', 'cli.js')) && existsSync(join(root, 'dist', '.stamp'));
const hasSrc = existsSync(join(root, 'src', 'cli.ts'));

function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

function distIsFresh() {
  if (!hasDist) return false;
  if (!hasSrc) return true;
  try {
    return statSync(join(root, 'dist', '.stamp')).mtimeMs >= newestMtime(join(root, 'src'));
  } catch {
    return false;
  }
}

let main;
if (distIsFresh()) {
  ({ main } = await import('../dist/cli.js'));
} else if (hasSrc) {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../src/cli.ts'));
} else {
  process.stderr.write(`kdq: ${root} has neither dist/ (the compiled code a package ships) nor src/; reinstall kdq, or run 'npm run build' in a clone of it\n`);
  process.exit(1);
}
process.exitCode = await main(process.argv.slice(2));
