/** kdq's own version, from its package.json (one folder above src/ and dist/ alike), read once per process. */
import { readFile } from 'node:fs/promises';

let version: Promise<string> | undefined;

export function kdqVersion(): Promise<string> {
  version ??= readFile(new URL('../../package.json', import.meta.url), 'utf8').then((text) => {
    const pkg = JSON.parse(text) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  });
  return version;
}
