#!/usr/bin/env node
// `npm run bench [-- --shapes NAME,... --batch N,... --profile | --kd-mnist | --ablation | ...]`: runs bench/run-bench.ts through tsx.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../bench/run-bench.ts');
try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  // Only this entry point prints: the bench library throws.
  console.error(`kdq bench: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 2;
}
