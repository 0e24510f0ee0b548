/**
 * The benchmarks' results files: `{ description, history: [entry, ...] }`, one entry appended per
 * run, written to a temp file and renamed so a reader never sees half a file.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** The entries already in `file`; none when it is missing or unreadable. */
export function readHistory(file: string): unknown[] {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as { history?: unknown };
    return Array.isArray(parsed.history) ? parsed.history : [];
  } catch {
    return [];
  }
}

/** Appends `entry` to `file`'s history, setting its description. */
export function appendHistory(file: string, description: string, entry: unknown): void {
  const history = [...readHistory(file), entry];
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify({ description, history }, null, 2) + '\n');
  renameSync(tmp, file);
}
