/**
 * Which layers each layer reads: the previous one by default, or the earlier layers its `inputs`
 * name. Resolved from the specs alone (no tf.js), so the config loader can point at a misspelt
 * name, a name used twice or a branch nothing reads, and the builder, the shape inference and the
 * parameter count all follow the same edges.
 */
import type { LayerSpec } from '../config/types.ts';
import { MERGE_LAYER_TYPES, MODEL_INPUT_NAME } from '../names.ts';
import { didYouMean } from '../util/suggest.ts';

/** The model's input, as a source index. */
export const INPUT = -1;

/** A wiring mistake at `layers.<index>.<key>[.<item>]`. */
export interface WiringIssue {
  index: number;
  /** `name`, `inputs` or `type`. */
  key: string;
  /** The position in `inputs`, when one name is wrong. */
  item?: number;
  message: string;
}

export interface Wiring {
  /** Per layer, the indices of the layers it reads in order (INPUT for the model's input); empty when unresolved. */
  sources: number[][];
  issues: WiringIssue[];
}

function isMerge(layer: LayerSpec): boolean {
  return (MERGE_LAYER_TYPES as readonly string[]).includes(layer.type);
}

/** How messages refer to layer `index`: its name, else its position and type. */
export function layerLabel(layers: readonly LayerSpec[], index: number): string {
  if (index === INPUT) return `'${MODEL_INPUT_NAME}'`;
  const l = layers[index]!;
  return l.name !== undefined ? `'${l.name}'` : `layer ${index} (${l.type})`;
}

/** Resolves every layer's sources and collects every wiring mistake. */
export function resolveWiring(layers: readonly LayerSpec[]): Wiring {
  const issues: WiringIssue[] = [];
  const byName = new Map<string, number>();
  layers.forEach((l, i) => {
    if (l.name === undefined) return;
    const prefix = `layer ${i} (${l.type})`;
    if (l.name === MODEL_INPUT_NAME) {
      issues.push({
        index: i,
        key: 'name',
        message: `${prefix}: '${MODEL_INPUT_NAME}' is what inputs call the model's input, so no layer can take that name; call it e.g. '${l.type}_${i}'`,
      });
    } else if (byName.has(l.name)) {
      issues.push({
        index: i,
        key: 'name',
        message: `${prefix}: name '${l.name}' is already the name of layer ${byName.get(l.name)}; every layer name must be unique, rename one of them`,
      });
    } else {
      byName.set(l.name, i);
    }
  });

  const sources = layers.map((l, i): number[] => {
    const prefix = `layer ${i} (${l.type})`;
    if (l.inputs === undefined) return [i - 1];
    const earlier = [MODEL_INPUT_NAME, ...layers.slice(0, i).flatMap((e) => (e.name !== undefined ? [e.name] : []))];
    const resolved: number[] = [];
    l.inputs.forEach((name, item) => {
      if (name === MODEL_INPUT_NAME) {
        resolved.push(INPUT);
        return;
      }
      const at = byName.get(name);
      if (at !== undefined && at < i) {
        resolved.push(at);
        return;
      }
      const message =
        at === i
          ? `${prefix}: a layer cannot read itself ('${name}'); list the earlier layers it reads`
          : at !== undefined
            ? `${prefix}: '${name}' is layer ${at}, which comes after this one; a layer reads only earlier layers (or '${MODEL_INPUT_NAME}'), so move it before layer ${i}`
            : `${prefix}: no earlier layer is named '${name}'${didYouMean(name, earlier) || `; the names before it are ${earlier.map((n) => `'${n}'`).join(', ')}`}`;
      issues.push({ index: i, key: 'inputs', item, message });
    });
    if (resolved.length !== l.inputs.length) return [];
    if (isMerge(l) && resolved.length < 2) {
      issues.push({
        index: i,
        key: 'inputs',
        message: `${prefix}: ${l.type} joins two or more layers but lists ${resolved.length}; name both branches, e.g. inputs: [shortcut, ${l.inputs[0] ?? 'bn2'}]`,
      });
      return [];
    }
    if (!isMerge(l) && resolved.length !== 1) {
      issues.push({
        index: i,
        key: 'inputs',
        message: `${prefix}: a ${l.type} layer reads one input but lists ${resolved.length}; join the branches first with an add or concatenate layer and read that`,
      });
      return [];
    }
    return resolved;
  });

  // A layer nothing reads is a branch that was meant to join the network; the last layer is the output.
  const read = new Set<number>(sources.flat());
  layers.forEach((l, i) => {
    if (i === layers.length - 1 || read.has(i) || sources.some((s) => s.length === 0)) return;
    const readers = layers.map((r, k) => ({ r, k })).filter(({ r, k }) => k === i + 1 && r.inputs !== undefined);
    const next = readers.length > 0 ? ` (layer ${i + 1} reads ${readers[0]!.r.inputs!.map((n) => `'${n}'`).join(', ')} instead)` : '';
    issues.push(
      l.name !== undefined
        ? {
            index: i,
            key: 'name',
            message: `layer ${i} (${l.type}): '${l.name}' is never used${next}: no later layer lists it in its inputs and it is not the last layer; add it to an inputs list or remove it`,
          }
        : {
            index: i,
            key: 'type',
            message: `layer ${i} (${l.type}): its output is never used${next}; give it a name and list it in a later layer's inputs, or remove it`,
          },
    );
  });
  return { sources, issues };
}

/** Whether the layers form a plain chain (each reads the one before), which tf.sequential builds. */
export function isChain(sources: readonly number[][]): boolean {
  return sources.every((s, i) => s.length === 1 && s[0] === i - 1);
}
