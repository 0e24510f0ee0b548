/**
 * A run that had failing stages. It carries the whole RunResult (so the caller can still write
 * stages.json and say which stages were skipped) and the first stage error as `cause`; its code
 * and exit code are that error's, so a missing data file still exits 2.
 */
import { KdqError, type ErrorCode } from '../errors.ts';
import type { RunResult } from './results.ts';

export class PipelineError extends KdqError {
  readonly result: RunResult;
  /** Stage id -> the error it threw. */
  readonly failures: Record<string, unknown>;

  constructor(message: string, result: RunResult, failures: Record<string, unknown>) {
    const first = Object.values(failures)[0];
    const code: ErrorCode = first instanceof KdqError ? first.code : 'E_INTERNAL';
    super(code, message, { cause: first, exitCode: first instanceof KdqError ? first.exitCode : undefined });
    this.name = 'PipelineError';
    this.result = result;
    this.failures = failures;
  }
}
