/**
 * Which backend a run will use and the tf.js version, without importing tf.js: stage keys need
 * both, and a run whose stages are all cached should not pay for loading tf.js at all.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { BackendName } from '../names.ts';
import type { KeyEnv } from '../pipeline/hash.ts';
import { simdVariant, type SimdVariant } from './simd/index.ts';

const require = createRequire(import.meta.url);

export interface BackendIdentity {
  name: BackendName;
  tfjs: string;
  /** wasm only: the build of kdq's SIMD kernels this process runs (FMA rounds differently). */
  kernels?: SimdVariant;
}

function tfjsNodeRoot(): string | undefined {
  try {
    return path.dirname(require.resolve('@tensorflow/tfjs-node/package.json'));
  } catch {
    return undefined;
  }
}

/**
 * Whether @tensorflow/tfjs-node (at `root`, default: where Node resolves it) is installed with its native addon built. npm can leave the package
 * without the addon (its install script downloads libtensorflow; npm may skip or fail that script
 * and keep the package), and such a package cannot load.
 */
export function nodeAddonBuilt(root = tfjsNodeRoot()): boolean {
  if (root === undefined) return false;
  const lib = path.join(root, 'lib');
  if (!existsSync(lib)) return false;
  return readdirSync(lib).some((d) => d.startsWith('napi-v') && existsSync(path.join(lib, d, 'tfjs_binding.node')));
}

/** The tf.js version installed (tfjs-core's, which is what `tf.version.tfjs` reports). */
export function tfjsVersion(): string {
  const path = require.resolve('@tensorflow/tfjs-core/package.json');
  return (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version;
}

/**
 * The backend initBackend(requested) will pick: the requested one, else `node` when
 * @tensorflow/tfjs-node is installed with its addon, else `wasm`. (initBackend checks that it
 * really loads, and refuses to silently fall back once the keys say `node`.)
 */
export function backendIdentity(requested?: BackendName): BackendIdentity {
  const name = requested ?? (nodeAddonBuilt() ? 'node' : 'wasm');
  return { name, tfjs: tfjsVersion(), ...(name === 'wasm' ? { kernels: simdVariant() } : {}) };
}

/** What of `b` goes into stage keys: everything that changes a stage's output bits. */
export function keyEnv(b: BackendIdentity): KeyEnv {
  return { backend: b.name, tfjs: b.tfjs, ...(b.kernels !== undefined ? { kernels: b.kernels } : {}) };
}
