/**
 * Evaluates a runtime's Emscripten glue file as a CommonJS module in its own function scope.
 *
 * Both runtime packages ship a browser loader that expects `self`, `importScripts`, a `fetch` of the
 * .wasm URL and (for tfjs-tflite) a hidden SharedArrayBuffer. Their glue files, however, are plain
 * UMD scripts that export the module factory through `module.exports`. Evaluating them with our own
 * `module`/`require`/`__filename` lets us call the factory directly and hand it the .wasm bytes read
 * from node_modules, so no global is installed and nothing can touch the network.
 * (`require` cannot load them itself: @litertjs/core is `"type": "module"`, so Node would treat the
 * .js glue as ESM.)
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { compileFunction } from 'node:vm';

/** Options every Emscripten module factory accepts; the rest are runtime specific. */
export interface EmscriptenModuleArgs {
  /** The .wasm bytes, so the glue never fetches or reads a URL itself. */
  wasmBinary?: Uint8Array;
  locateFile?: (path: string, scriptDirectory: string) => string;
  print?: (text: string) => void;
  printErr?: (text: string) => void;
}

export type EmscriptenFactory<M> = (args: EmscriptenModuleArgs) => Promise<M>;

/** Loads `file` (an absolute path) and returns what it assigns to `module.exports`. */
export function loadEmscriptenFactory<M>(file: string): EmscriptenFactory<M> {
  const code = readFileSync(file, 'utf8');
  const wrapper = compileFunction(code, ['exports', 'require', 'module', '__filename', '__dirname'], { filename: file });
  const module: { exports: unknown } = { exports: {} };
  wrapper(module.exports, createRequire(file), module, file, dirname(file));
  if (typeof module.exports !== 'function') {
    throw new TypeError(`${file} did not export an Emscripten module factory (got ${typeof module.exports})`);
  }
  return module.exports as EmscriptenFactory<M>;
}

/**
 * Keeps the last lines a WASM runtime printed, so an error can quote the runtime's own reason
 * (e.g. "quantized_dimension must be in range") instead of the library printing to stderr.
 */
export class RuntimeLog {
  private lines: string[] = [];
  constructor(private readonly keep = 40) {}
  readonly push = (text: string): void => {
    this.lines.push(text);
    if (this.lines.length > this.keep) this.lines.splice(0, this.lines.length - this.keep);
  };
  /** Lines printed since the last call, without INFO/WARNING chatter, then forgets them. */
  drain(): string[] {
    const out = this.lines.filter((l) => !/^(INFO|WARNING|VERBOSE|DEBUG)\b/.test(l));
    this.lines = [];
    return out;
  }
}
