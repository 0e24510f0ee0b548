/**
 * Maps a key path of the merged experiment back to the file, line and column where its value was
 * written, across `extends` bases and `--set` overrides.
 */
import type { SourceLocation } from '../errors.ts';
import { isPlainObject } from './merge.ts';
import { joinPath, type NodeLocation } from './yaml-source.ts';

/** One contributor to the merged experiment, lowest priority first. */
export interface SourceLayer {
  file: string;
  /**
   * How this layer holds `path`: 'merged' when it is a mapping merged with lower layers, 'owner'
   * when its value (a list or scalar) replaces theirs, undefined when the layer does not set it.
   */
  kind(path: readonly (string | number)[]): 'owner' | 'merged' | undefined;
  /** Position of `path` in this layer, if written there. */
  location(path: readonly (string | number)[]): NodeLocation | undefined;
}

/** A layer backed by a parsed YAML file. */
export function yamlLayer(file: string, value: unknown, locations: Map<string, NodeLocation>): SourceLayer {
  return {
    file,
    kind(path) {
      let v: unknown = value;
      for (const seg of path) {
        if (Array.isArray(v)) v = v[Number(seg)];
        else if (isPlainObject(v) && Object.hasOwn(v, String(seg))) v = v[String(seg)];
        else return undefined;
      }
      return isPlainObject(v) ? 'merged' : 'owner';
    },
    location: (path) => locations.get(joinPath(path)),
  };
}

/** A layer for one `--set key.path=value`: it owns `setPath` and everything below it. */
export function overrideLayer(label: string, setPath: readonly string[]): SourceLayer {
  return {
    file: label,
    kind(path) {
      const n = Math.min(path.length, setPath.length);
      for (let i = 0; i < n; i++) if (String(path[i]) !== setPath[i]) return undefined;
      return path.length < setPath.length ? 'merged' : 'owner';
    },
    // Command-line arguments have no line: the label itself says where the value came from.
    location: () => ({ value: { line: 0, col: 0 }, collection: false }),
  };
}

export class SourceMap {
  constructor(private readonly layers: readonly SourceLayer[]) {}

  /**
   * Where `path` was written. `prefer: 'key'` points at the key of a mapping or list (where a
   * missing or unknown key reads best) and at the value otherwise. Falls back to the nearest
   * written ancestor when the path itself is absent (a missing key points at its parent).
   */
  locate(path: readonly (string | number)[], prefer: 'key' | 'value' = 'value'): SourceLocation {
    let candidates = [...this.layers].reverse();
    let best: { layer: SourceLayer; depth: number } | undefined;
    for (let depth = 0; depth <= path.length; depth++) {
      const prefix = path.slice(0, depth);
      const layer = candidates.find((l) => l.kind(prefix) !== undefined);
      if (!layer) break;
      best = { layer, depth };
      // A replaced value hides whatever lower layers wrote beneath it.
      if (layer.kind(prefix) === 'owner') candidates = [layer];
    }
    const fallbackFile = this.layers[this.layers.length - 1]?.file ?? '';
    if (!best) return { file: fallbackFile, line: 0, col: 0 };
    const loc = best.layer.location(path.slice(0, best.depth));
    if (!loc) return { file: best.layer.file, line: 0, col: 0 };
    const useKey = loc.key && (prefer === 'key' || loc.collection || best.depth < path.length);
    const p = useKey ? loc.key! : loc.value;
    return { file: best.layer.file, line: p.line, col: p.col };
  }
}
