/**
 * WebAssembly modules whose linear memory is shared (a SharedArrayBuffer), so that a second thread
 * can run kdq's kernels on the very tensors of the wasm backend (src/backend/intra-op/).
 *
 * tf.js' SIMD build defines its memory with a maximum (256 pages up to 65536) and kdq's kernel
 * modules import theirs with the same maximum, so making either shared is one flag of its limits:
 * 0x01 (minimum and maximum) becomes 0x03 (minimum, maximum, shared). Shared memories need a
 * maximum; code is unchanged, plain loads and stores work on shared memory as they do on any other.
 */

const SECTION_IMPORT = 2;
const SECTION_MEMORY = 5;
const LIMITS_MIN_MAX = 0x01;
const LIMITS_SHARED = 0x03;

function readLeb(bytes: Uint8Array, at: number): [value: number, next: number] {
  let value = 0;
  let shift = 0;
  let b: number;
  do {
    if (at >= bytes.length) throw new Error('truncated LEB128');
    b = bytes[at++]!;
    value += (b & 0x7f) * 2 ** shift;
    shift += 7;
  } while (b & 0x80);
  return [value, at];
}

/** Skips a name (length-prefixed bytes). */
function skipName(bytes: Uint8Array, at: number): number {
  const [len, next] = readLeb(bytes, at);
  return next + len;
}

/** Offset of the limits flag of the module's one memory (defined or imported), or -1. */
function memoryLimitsOffset(bytes: Uint8Array): number {
  let at = 8;
  while (at < bytes.length) {
    const id = bytes[at]!;
    const [size, body] = readLeb(bytes, at + 1);
    if (id === SECTION_MEMORY) {
      const [count, limits] = readLeb(bytes, body);
      return count === 1 ? limits : -1;
    }
    if (id === SECTION_IMPORT) {
      let [count, p] = readLeb(bytes, body);
      for (; count > 0; count--) {
        p = skipName(bytes, skipName(bytes, p));
        const kind = bytes[p++];
        if (kind === 0x02) return p;
        if (kind === 0x00)
          p = readLeb(bytes, p)[1]; // function: type index
        else if (kind === 0x01) {
          // table: element type, then limits
          p++;
          const flag = bytes[p++]!;
          p = readLeb(bytes, p)[1];
          if (flag & 1) p = readLeb(bytes, p)[1];
        } else if (kind === 0x03)
          p += 2; // global: value type, mutability
        else return -1;
      }
    }
    at = body + size;
  }
  return -1;
}

/**
 * A copy of `bytes` whose memory is shared, or null when the module's memory is not one with a
 * maximum (then it cannot be shared without rewriting it).
 */
export function withSharedMemory(bytes: Uint8Array): Uint8Array<ArrayBuffer> | null {
  if (bytes.length < 8 || bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) return null;
  let at: number;
  try {
    at = memoryLimitsOffset(bytes);
  } catch {
    return null;
  }
  if (at < 0 || bytes[at] !== LIMITS_MIN_MAX) return null;
  const out = new Uint8Array(bytes.length);
  out.set(bytes);
  out[at] = LIMITS_SHARED;
  return out;
}

/** Whether `memory` is shared between threads. */
export function isShared(memory: WebAssembly.Memory): boolean {
  return typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
}

/**
 * Runs `init` (tf.js' wasm backend initialisation) with WebAssembly.instantiate giving a shared
 * memory to the modules it compiles from bytes that are one of `binaries` (tf.js' own, compared
 * byte for byte, so that no other module instantiated meanwhile is touched). Restores
 * WebAssembly.instantiate afterwards.
 */
export async function withSharedInstantiate<T>(binaries: readonly Uint8Array[], init: () => Promise<T>): Promise<T> {
  const original = WebAssembly.instantiate;
  const isBinary = (b: Uint8Array) =>
    binaries.some((x) => x.length === b.length && Buffer.from(x.buffer, x.byteOffset, x.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length)));
  const patched = function (this: unknown, source: unknown, imports?: WebAssembly.Imports): Promise<unknown> {
    const bytes = source instanceof Uint8Array ? source : source instanceof ArrayBuffer ? new Uint8Array(source) : null;
    if (bytes !== null && isBinary(bytes)) {
      const shared = withSharedMemory(bytes);
      // A runtime without shared WebAssembly memory still starts, on one thread.
      if (shared !== null) return original.call(WebAssembly, shared, imports).catch(() => original.call(WebAssembly, bytes, imports));
    }
    return (original as (s: unknown, i?: WebAssembly.Imports) => Promise<unknown>).call(WebAssembly, source, imports);
  };
  (WebAssembly as { instantiate: unknown }).instantiate = patched;
  try {
    return await init();
  } finally {
    (WebAssembly as { instantiate: unknown }).instantiate = original;
  }
}
