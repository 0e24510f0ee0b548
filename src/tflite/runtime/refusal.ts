/**
 * A runtime too old for a file: it has no kernel for one of the file's (operator, version) pairs
 * and refuses to load it. That is the operator version doing its job, not a fault in the file, so
 * it gets its own error class: evaluation records it beside the runtimes that ran the file.
 */
import { KdqError } from '../../errors.ts';
import type { RuntimeName } from './types.ts';

export class OpVersionRefused extends KdqError {
  constructor(
    readonly runtime: RuntimeName,
    /** e.g. `FULLY_CONNECTED`. */
    readonly op: string,
    readonly version: number,
    message: string,
    cause?: unknown,
  ) {
    super('E_TFLITE', message, cause === undefined ? undefined : { cause });
    this.name = 'OpVersionRefused';
  }
}

/**
 * The (op, version) a runtime's load error names, from the message TFLite's op resolver prints
 * ("Didn't find op for builtin opcode 'FULLY_CONNECTED' version '12'"); undefined for any other
 * reason to refuse a file.
 */
export function refusedOpVersion(text: string): { op: string; version: number } | undefined {
  const m = /Didn't find op for builtin opcode '([A-Z0-9_]+)' version '(\d+)'/.exec(text);
  return m ? { op: m[1]!, version: Number(m[2]) } : undefined;
}

/** The KdqError for a runtime's refusal to load `bytes`: OpVersionRefused when it is too old. */
export function loadRefusal(runtime: RuntimeName, size: number, reason: string, cause?: unknown): KdqError {
  const tooOld = refusedOpVersion(reason);
  if (tooOld) {
    return new OpVersionRefused(
      runtime,
      tooOld.op,
      tooOld.version,
      `${runtime} is older than the ${tooOld.op} version ${tooOld.version} kernel and refused the model (${size} bytes): ${reason}`,
      cause,
    );
  }
  return new KdqError(
    'E_TFLITE',
    `${runtime} rejected the model (${size} bytes): ${reason}; check the file with kdq inspect, or export it again`,
    cause === undefined ? undefined : { cause },
  );
}
