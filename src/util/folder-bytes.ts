/** Total size of the files under a folder (symlinks count as themselves, not what they point to). */
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

export async function folderBytes(dir: string): Promise<number> {
  let total = 0;
  const ents = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const ent of ents) {
    const p = join(dir, ent.name);
    if (ent.isDirectory()) total += await folderBytes(p);
    else total += (await lstat(p).catch(() => null))?.size ?? 0;
  }
  return total;
}
