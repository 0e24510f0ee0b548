/**
 * `stages.json` in a run folder: the RunResult of that run (keys, key details, statuses, timings),
 * so the next run can say which key part changed (`RunOptions.previous`) and `kdq diff` can compare.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunFolder } from './run-folder.ts';
import type { RunResult } from './results.ts';

export const STAGES_FILE = 'stages.json';

/** Writes `result` as the run folder's stages.json (atomically, like every run-folder file). */
export function writeStages(folder: RunFolder, result: RunResult): Promise<string> {
  return folder.writeJson(STAGES_FILE, { format: 1, ...result });
}

/**
 * The RunResult of `runs/<name>/latest`, or null when there is no earlier run or its stages.json is
 * unreadable: explaining is a courtesy, so a damaged file never stops a run.
 */
export async function readLatestStages(runsDir: string, name: string): Promise<RunResult | null> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(join(runsDir, name, 'latest', STAGES_FILE), 'utf8'));
  } catch {
    return null;
  }
  const o = parsed as Partial<RunResult> & { format?: number };
  if (o?.format !== 1 || !Array.isArray(o.stages)) return null;
  const { format: _format, ...result } = o;
  return result as RunResult;
}
