/**
 * kdq's errors. The library throws these; only src/cli.ts prints them and sets the exit code.
 * Every message quotes the bad input and says the fix.
 */

/** Where in an input file a problem is. */
export interface SourceLocation {
  file: string;
  /** 1-based; 0 when unknown. */
  line: number;
  /** 1-based; 0 when unknown. */
  col: number;
}

/** One problem in a config: `FILE:LINE:COL: key.path: message`. */
export interface ConfigIssue extends SourceLocation {
  /** Dotted key path, e.g. `student.layers.2.type`; empty for the whole document. */
  path: string;
  message: string;
}

export type ErrorCode =
  | 'E_CONFIG' // invalid experiment file: exit 2
  | 'E_USAGE' // bad command line: exit 2
  | 'E_DATA' // missing or corrupt data file, checksum mismatch: exit 2
  | 'E_TEACHER' // a teacher model file kdq cannot use as given (format, shape, classes, operators): exit 2
  | 'E_DIVERGED' // NaN / infinite loss
  | 'E_CACHE' // cache folder unusable
  | 'E_IO' // runs folder unwritable, disk full
  | 'E_EXECUTOR' // worker processes or the job queue (Redis) unreachable or lost
  | 'E_TFLITE' // export or runtime failure
  | 'E_INTERNAL';

export class KdqError extends Error {
  readonly code: ErrorCode;
  /** Process exit code the CLI uses for this error. */
  readonly exitCode: number;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; exitCode?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'KdqError';
    this.code = code;
    this.exitCode = options?.exitCode ?? (code === 'E_CONFIG' || code === 'E_USAGE' || code === 'E_DATA' || code === 'E_TEACHER' ? 2 : 1);
  }
}

export function formatIssue(i: ConfigIssue): string {
  const where = i.line > 0 ? `${i.file}:${i.line}:${i.col}` : i.file;
  return i.path ? `${where}: ${i.path}: ${i.message}` : `${where}: ${i.message}`;
}

/** An invalid experiment file: carries every issue found, not just the first. */
export class ConfigError extends KdqError {
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[]) {
    super('E_CONFIG', issues.map(formatIssue).join('\n'));
    this.name = 'ConfigError';
    this.issues = issues;
  }
}
