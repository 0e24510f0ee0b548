/**
 * Stage keys: a sha256 over everything that determines a stage's output, and the hash of each
 * part on its own (Nx's `{ value, details }`), so `explain` can name the part that changed.
 */
import { KdqError } from '../errors.ts';
import type { Stage } from './graph.ts';

export interface StageKey {
  /** Hex sha256 of `canonicalJson(details)`. */
  value: string;
  /**
   * Part name -> hex hash of that part: `definition` (kind + version), `config`, `env`, `role`
   * (when set), `dep:<id>` (the dependency's own key), `extra:<name>` (fingerprints).
   */
  details: Record<string, string>;
}

/**
 * What of the runtime enters every key, because outputs differ between runtimes (for kdq: the
 * tf.js backend, its version and the build of its kernels; see backend/identity.ts keyEnv).
 */
export type KeyEnv = Record<string, string>;

import { sha256Hex } from '../util/hash.ts';

export { sha256Hex };

/**
 * JSON with object keys sorted and `undefined` members dropped, so key order and a written-out
 * `undefined` never change a hash. Numbers use JavaScript's shortest round-trip form (and -0 is 0);
 * NaN, Infinity, functions, symbols and bigints have no stable JSON form and throw.
 */
export function canonicalJson(v: unknown): string {
  return encode(v, '$');
}

function encode(v: unknown, path: string): string {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return JSON.stringify(v);
    case 'number':
      if (!Number.isFinite(v)) {
        throw new KdqError('E_INTERNAL', `cannot hash ${path} = ${v}: only finite numbers have a stable JSON form`);
      }
      return JSON.stringify(v);
    case 'object': {
      if (Array.isArray(v)) return `[${v.map((x, i) => (x === undefined ? 'null' : encode(x, `${path}[${i}]`))).join(',')}]`;
      if (ArrayBuffer.isView(v) || v instanceof Map || v instanceof Set || v instanceof Date) {
        throw new KdqError('E_INTERNAL', `cannot hash ${path}: ${v.constructor.name} is not plain data; convert it to an array, object or string first`);
      }
      const obj = v as Record<string, unknown>;
      const parts: string[] = [];
      for (const k of Object.keys(obj).sort()) {
        if (obj[k] === undefined) continue;
        parts.push(`${JSON.stringify(k)}:${encode(obj[k], `${path}.${k}`)}`);
      }
      return `{${parts.join(',')}}`;
    }
    default:
      throw new KdqError('E_INTERNAL', `cannot hash ${path}: a ${typeof v} is not plain data`);
  }
}

/**
 * The key of one stage. `depKeys` holds the key of every dependency (so a changed teacher changes
 * every key downstream); `extra` holds fingerprints such as the data's sha256.
 */
export function stageKey(
  stage: Stage,
  def: { kind: string; version: number },
  depKeys: Record<string, string>,
  env: KeyEnv,
  extra: Record<string, string> = {},
): StageKey {
  const details: Record<string, string> = {
    definition: sha256Hex(canonicalJson({ kind: def.kind, version: def.version })),
    config: sha256Hex(canonicalJson(stage.config ?? null)),
    env: sha256Hex(canonicalJson(env)),
  };
  // The role is part of the key in case a stage names its outputs after it.
  if (stage.role !== undefined) details.role = sha256Hex(canonicalJson(stage.role));
  for (const dep of stage.deps) {
    const k = depKeys[dep];
    if (k === undefined) {
      throw new KdqError('E_INTERNAL', `stage "${stage.id}" needs the key of its dependency "${dep}"; hash dependencies first`);
    }
    details[`dep:${dep}`] = k;
  }
  for (const [name, value] of Object.entries(extra)) details[`extra:${name}`] = sha256Hex(value);
  return { value: sha256Hex(canonicalJson(details)), details };
}

/**
 * Why a key differs from an earlier one: the parts that were added, removed or changed, e.g.
 * `config changed`, `dep:teacher@s1 changed`. Empty when the details are equal.
 */
export function diffDetails(now: Record<string, string>, before: Record<string, string>): string[] {
  const out: string[] = [];
  for (const k of Object.keys({ ...before, ...now }).sort()) {
    if (!(k in before)) out.push(`${k} added`);
    else if (!(k in now)) out.push(`${k} removed`);
    else if (now[k] !== before[k]) out.push(`${k} changed`);
  }
  return out;
}
