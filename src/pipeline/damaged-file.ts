/**
 * A stage found a file of one of its inputs unusable although the input's manifest matched (a JSON
 * file that does not parse: written by a faulty kdq, or damaged together with its manifest). The
 * walker treats the input's cache entry like any other corrupt entry: warns, deletes it,
 * recomputes it and runs the stage again (src/pipeline/run.ts).
 */
import { KdqError } from '../errors.ts';

export class DamagedFileError extends KdqError {
  constructor(
    /** The file that could not be used. */
    readonly path: string,
    /** What is wrong with it, e.g. the JSON parser's message. */
    readonly problem: string,
    cause?: unknown,
  ) {
    super('E_CACHE', `${path} is damaged (${problem}); delete the cache entry holding it, or run 'kdq cache verify'`, { cause });
    this.name = 'DamagedFileError';
  }
}
