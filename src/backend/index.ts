/**
 * The one place that chooses and sets up the tf.js backend. Everyone else imports tf as
 * `import * as tf from '@tensorflow/tfjs'` and calls `initBackend()` once before building models.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { KdqError } from '../errors.ts';
import { BACKENDS, type BackendName } from '../names.ts';
import { withSharedInstantiate } from './shared-memory.ts';
import { nodeAddonBuilt, type BackendIdentity } from './identity.ts';
import { simdVariant } from './simd/index.ts';
import { registerWasmKernels } from './wasm-kernels/index.ts';

export { registerWasmKernels, KDQ_WASM_KERNELS } from './wasm-kernels/index.ts';
export { fastAdam, FastAdamOptimizer } from './fast-adam.ts';

/** tf.js' own name for each kdq backend. */
const TF_NAMES: Record<BackendName, string> = { node: 'tensorflow', wasm: 'wasm', cpu: 'cpu' };

const require = createRequire(import.meta.url);
let nodeAvailable: Promise<boolean> | undefined;

/** Whether @tensorflow/tfjs-node is installed and its native addon loads; checked once. */
function loadNode(): Promise<boolean> {
  nodeAvailable ??= (async () => {
    // A variable specifier: the package is optional, so TypeScript must not require its types.
    const specifier = '@tensorflow/tfjs-node';
    try {
      await import(specifier);
      return tf.findBackend(TF_NAMES.node) !== null;
    } catch {
      return false;
    }
  })();
  return nodeAvailable;
}

/** The folder holding the .wasm binaries, so that nothing is fetched over the network. */
export function wasmBinaryDir(): string {
  return path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep;
}

/** tf.js' wasm binaries (the build it loads depends on what the runtime supports). */
function tfjsWasmBinaries(): Uint8Array[] {
  const dir = wasmBinaryDir();
  return ['tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm.wasm'].flatMap((f) => {
    try {
      return [readFileSync(path.join(dir, f))];
    } catch {
      return [];
    }
  });
}

async function activate(name: BackendName): Promise<void> {
  if (name === 'wasm') {
    registerWasmKernels();
    setWasmPaths(wasmBinaryDir());
  }
  let ok = false;
  let cause: unknown;
  try {
    const start = async (): Promise<boolean> => {
      const started = await tf.setBackend(TF_NAMES[name]);
      await tf.ready();
      return started;
    };
    // On wasm, in a shared memory, so that kernels can split their work with a helper thread (intra-op/).
    ok = name === 'wasm' ? await withSharedInstantiate(tfjsWasmBinaries(), start) : await start();
  } catch (err) {
    cause = err;
  }
  if (!ok || tf.getBackend() !== TF_NAMES[name]) {
    throw new KdqError(
      'E_USAGE',
      `backend '${name}' failed to initialise${cause instanceof Error ? `: ${cause.message}` : ''}; try --backend ${name === 'cpu' ? 'wasm' : 'cpu'}`,
      { cause },
    );
  }
}

/**
 * Chooses, sets up and activates the backend; safe to call again (a call for the active backend
 * does nothing). Default: `node` when @tensorflow/tfjs-node loads, else `wasm` with kdq's kernels;
 * `cpu` only when asked. Throws KdqError E_USAGE when `requested` is unknown or unavailable.
 */
export async function initBackend(requested?: BackendName): Promise<BackendIdentity> {
  if (requested !== undefined && !(BACKENDS as readonly string[]).includes(requested)) {
    throw new KdqError('E_USAGE', `unknown backend '${String(requested)}'; use one of: ${BACKENDS.join(', ')}`);
  }
  let name: BackendName;
  if (requested === 'node') {
    if (!(await loadNode())) {
      throw new KdqError('E_USAGE', "backend 'node' is not installed: @tensorflow/tfjs-node could not be installed on this machine; use --backend wasm");
    }
    name = 'node';
  } else if (requested !== undefined) {
    name = requested;
  } else {
    // The same rule as backendIdentity (which stage keys use), so the keys and the backend agree.
    name = nodeAddonBuilt() ? 'node' : 'wasm';
    if (name === 'node' && !(await loadNode())) {
      throw new KdqError(
        'E_USAGE',
        '@tensorflow/tfjs-node is installed with its native addon but does not load; reinstall it (npm rebuild @tensorflow/tfjs-node) or use --backend wasm',
      );
    }
  }
  if (tf.getBackend() !== TF_NAMES[name]) await activate(name);
  return { name, tfjs: tf.version.tfjs, ...(name === 'wasm' ? { kernels: simdVariant() } : {}) };
}
