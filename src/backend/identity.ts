/**
 * Which backend a run will use and the tf.js version, without importing tf.js: stage keys need
 * both, and a run whose stages are all cached should not pay for loading tf.js at all.
 */
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import type { BackendName } from '../names.ts';

const require = createRequire(import.meta.url);

export interface BackendIdentity {
  name: BackendName;
  tfjs: string;
}

function installed(pkg: string): boolean {
  try {
    require.resolve(`${pkg}/package.json`);
    return true;
  } catch {
    return false;
  }
}

/** The tf.js version installed (tfjs-core's, which is what `tf.version.tfjs` reports). */
export function tfjsVersion(): string {
  const path = require.resolve('@tensorflow/tfjs-core/package.json');
  return (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version;
}

/**
 * The backend initBackend(requested) will pick: the requested one, else `node` when
 * @tensorflow/tfjs-node is installed, else `wasm`. (initBackend checks that it really loads.)
 */
export function backendIdentity(requested?: BackendName): BackendIdentity {
  const name = requested ?? (installed('@tensorflow/tfjs-node') ? 'node' : 'wasm');
  return { name, tfjs: tfjsVersion() };
}
