/** kdq's own version, from its package.json (one folder above src/ and dist/ alike). */
import { readFile } from 'node:fs/promises';

export async function kdqVersion(): Promise<string> {
  const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  return typeof pkg.version === 'string' ? pkg.version : 'unknown';
}
