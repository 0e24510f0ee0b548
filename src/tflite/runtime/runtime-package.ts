/** Where each runtime's files live in node_modules, and which version is installed. */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { RuntimeName } from './types.ts';

const require = createRequire(import.meta.url);

export const RUNTIME_PACKAGES: Record<RuntimeName, string> = {
  litert: '@litertjs/core',
  'tfjs-tflite': '@tensorflow/tfjs-tflite',
};

/** Absolute path of a file inside a runtime package (neither package has an `exports` map). */
export function runtimeFile(runtime: RuntimeName, relative: string): string {
  return require.resolve(`${RUNTIME_PACKAGES[runtime]}/${relative}`);
}

const versions = new Map<RuntimeName, string>();

/** e.g. "@litertjs/core 2.5.3", read from the installed package.json. */
export function runtimeVersion(runtime: RuntimeName): string {
  let v = versions.get(runtime);
  if (v === undefined) {
    const pkg = JSON.parse(readFileSync(runtimeFile(runtime, 'package.json'), 'utf8')) as { version?: string };
    v = `${RUNTIME_PACKAGES[runtime]} ${pkg.version ?? 'unknown'}`;
    versions.set(runtime, v);
  }
  return v;
}
