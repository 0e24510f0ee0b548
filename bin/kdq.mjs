#!/usr/bin/env node
// Entry point. Runs the compiled JavaScript in dist/ when it is at least as new as every file in
// src/ (npm install builds it: the `prepare` script), so that start-up pays no TypeScript
// transform; otherwise runs src/ through tsx, so an edited checkout never runs stale code.
import { readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

function distIsFresh() {
  try {
    return statSync(join(root, 'dist', '.stamp')).mtimeMs >= newestMtime(join(root, 'src'));
  } catch {
    return false;
  }
}

let main;
if (distIsFresh()) {
  ({ main } = await import('../dist/cli.js'));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../src/cli.ts'));
}
process.exitCode = await main(process.argv.slice(2));
