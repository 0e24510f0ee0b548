/**
 * Which process wrote a lock or a record, in a form that survives PID reuse: the pid alone names a
 * different, unrelated process once the writer is gone and the kernel hands its number out again
 * (or after a reboot), so a live pid would keep a dead writer's lock "held" until its heartbeat
 * timed out. With the boot id and the process start time recorded too, a reused pid is recognised
 * at once. Both come from /proc (Linux); elsewhere they are absent and only the pid is checked.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

export interface ProcessStamp {
  pid: number;
  host: string;
  /** /proc/sys/kernel/random/boot_id: changes at every boot. */
  boot?: string;
  /** Start time of the process in clock ticks since boot (field 22 of /proc/PID/stat). */
  start?: number;
}

let cachedBoot: string | null | undefined;

/** This machine's boot id, or undefined where /proc does not provide one. */
export function bootId(): string | undefined {
  if (cachedBoot === undefined) {
    try {
      cachedBoot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || null;
    } catch {
      cachedBoot = null;
    }
  }
  return cachedBoot ?? undefined;
}

/** Start time of process `pid` in clock ticks since boot, or undefined (no such process, or no /proc). */
export function processStartTicks(pid: number): number | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may itself hold spaces and ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[19]); // field 22 overall; fields[0] is field 3
  return Number.isSafeInteger(ticks) ? ticks : undefined;
}

/** True when a process with this pid exists (EPERM means it exists but belongs to someone else). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The stamp of the calling process. */
export function thisProcess(): ProcessStamp {
  const boot = bootId();
  const start = processStartTicks(process.pid);
  return { pid: process.pid, host: hostname(), ...(boot !== undefined ? { boot } : {}), ...(start !== undefined ? { start } : {}) };
}

/**
 * Whether the process a stamp describes still runs: 'gone' (dead, rebooted since, or its pid now
 * belongs to another process), 'alive', or 'unknown' (another host: its processes cannot be seen).
 */
export function stampState(s: ProcessStamp): 'alive' | 'gone' | 'unknown' {
  if (s.host !== hostname()) return 'unknown';
  const boot = bootId();
  if (s.boot !== undefined && boot !== undefined && s.boot !== boot) return 'gone';
  if (!Number.isInteger(s.pid) || s.pid <= 0 || !isProcessAlive(s.pid)) return 'gone';
  if (s.start !== undefined) {
    const now = processStartTicks(s.pid);
    if (now !== undefined && now !== s.start) return 'gone';
  }
  return 'alive';
}
