/**
 * docs/experiment-file.md is the reference of the experiment file, so it must name everything
 * schemas/experiment.schema.json accepts: every property (layer arguments, data source keys and
 * `$defs` included, reached through `$ref`) and every allowed value (`source`s, layer `type`s,
 * schedule types, activations ...) appears as a code span (`key`) in the section of the page that
 * documents its group. A key added to the schema without a line in the page fails here, by name.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { experimentSchema } from '../../src/config/schema.ts';

type S = Record<string, unknown>;

const DOC = readFileSync(new URL('../../docs/experiment-file.md', import.meta.url), 'utf8');

/** One thing the page must name: a key, or an allowed value of a key, within a group (object path). */
interface Item {
  /** Path of the object that holds the key; a layer's arguments sit under its type, e.g. student.layers.conv2d. */
  group: string[];
  /** The text the page must show as a code span. */
  token: string;
  /** How a failure names it: `data.labels`, or `data.source: "csv"` for a value. */
  label: string;
  kind: 'key' | 'value';
}

/** The heading of the section that documents each group, by group path prefix (the longest prefix wins). */
const SECTIONS: Record<string, string> = {
  '': 'Top level',
  data: '`data`',
  teacher: '`teacher` and `student`',
  student: '`teacher` and `student`',
  'teacher.training': '`training`',
  'student.training': '`training`',
  'teacher.layers': 'Layers',
  'student.layers': 'Layers',
  distillation: '`distillation`',
  quantization: '`quantization`',
  evaluation: '`evaluation`',
  sweep: '`sweep`',
};

const isObj = (v: unknown): v is S => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The subschema a local `$ref` (`#/$defs/model/properties/layers`) points at. */
function deref(root: S, ref: string): S {
  if (!ref.startsWith('#/')) throw new Error(`only local $refs are expected in the experiment schema, got ${ref}`);
  let node: unknown = root;
  for (const part of ref.slice(2).split('/')) node = isObj(node) ? node[part] : undefined;
  if (!isObj(node)) throw new Error(`$ref ${ref} points at nothing`);
  return node;
}

/** Every key and allowed value of the schema, with the group it belongs to. */
function schemaItems(root: S): Item[] {
  const out = new Map<string, Item>();
  const add = (group: string[], token: string, label: string, kind: Item['kind']) => out.set(label, { group, token, label, kind });
  const walk = (node: unknown, path: string[], depth: number): void => {
    if (!isObj(node)) return; // `true` (a key allowed, described elsewhere) and `false`
    if (depth > 30) throw new Error(`schema nesting deeper than 30 at ${path.join('.')}: a $ref cycle?`);
    if (typeof node.$ref === 'string') walk(deref(root, node.$ref), path, depth + 1);
    if (Array.isArray(node.enum)) {
      for (const v of node.enum) add(path.slice(0, -1), String(v), `${path.join('.')}: ${JSON.stringify(v)}`, 'value');
    }
    if (isObj(node.properties)) {
      for (const [k, v] of Object.entries(node.properties)) {
        add(path, k, [...path, k].join('.'), 'key');
        walk(v, [...path, k], depth + 1);
      }
    }
    // Array items (a list of layers, of metrics) belong to the list's key.
    if (node.items !== undefined) walk(node.items, path, depth + 1);
    // A map with free keys (CIFAR files by name, sweep key paths): its values' keys are one level down.
    if (isObj(node.additionalProperties)) walk(node.additionalProperties, [...path, '*'], depth + 1);
    if (isObj(node.patternProperties)) for (const v of Object.values(node.patternProperties)) walk(v, [...path, '*'], depth + 1);
    for (const branch of [...((node.anyOf as unknown[]) ?? []), ...((node.oneOf as unknown[]) ?? [])]) walk(branch, path, depth + 1);
    for (const branch of (node.allOf as unknown[]) ?? []) {
      if (!isObj(branch)) continue;
      // A layer type's arguments: `if: { properties: { type: { const: conv2d } } }, then: { $ref: '#/$defs/conv2d' }`.
      const typeConst = isObj(branch.if) && isObj(branch.if.properties) && isObj(branch.if.properties.type) ? branch.if.properties.type.const : undefined;
      if (typeof typeConst === 'string') walk(branch.then, [...path, typeConst], depth + 1);
      else walk(branch, path, depth + 1);
    }
    walk(node.then, path, depth + 1);
    walk(node.else, path, depth + 1);
  };
  walk(root, [], 0);
  return [...out.values()];
}

/** The section under the heading whose text is `title`, down to the next heading of its level or above. */
function section(doc: string, title: string): string | null {
  const lines = doc.split('\n');
  let inFence = false;
  let start = -1;
  let level = 0;
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.startsWith('```')) inFence = !inFence;
    const m = inFence ? null : /^(#+) (.*)$/.exec(lines[i]!);
    if (!m) continue;
    if (start >= 0 && m[1]!.length <= level) return lines.slice(start, i).join('\n');
    if (start < 0 && m[2]!.trim() === title) {
      start = i;
      level = m[1]!.length;
    }
  }
  return start >= 0 ? lines.slice(start).join('\n') : null;
}

/** The heading that documents `group`. */
function sectionTitle(group: string[]): string {
  for (let n = group.length; n >= 0; n--) {
    const title = SECTIONS[group.slice(0, n).join('.')];
    if (title !== undefined) return title;
  }
  throw new Error(`no section for ${group.join('.')}`);
}

/** The code spans of a piece of Markdown. */
const spansIn = (text: string): Set<string> => new Set([...text.matchAll(/`([^`\n]+)`/g)].map((m) => m[1]!));

/** A table row's code spans: those of its first cell (what the row documents) and of the whole row. */
interface Row {
  first: Set<string>;
  firstText: string;
  all: Set<string>;
}

function rowsOf(text: string): Row[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('|') && !/^\|\s*-/.test(l))
    .map((l) => {
      // Cells are split at pipes that are not escaped (`\|` separates allowed values inside a cell).
      const firstText = l
        .slice(1)
        .split(/(?<!\\)\|/)[0]!
        .trim();
      return { first: spansIn(firstText), firstText, all: spansIn(l) };
    });
}

/** The row that lists the arguments every layer type takes. */
const EVERY_LAYER_ROW = 'every type';

/**
 * What the page does not document, each as `label (why)`; empty when it documents everything. A key
 * needs a table row of its own in its section (a code span in the row's first cell); a layer's
 * argument, a mention in the row of its layer type (or the row of arguments every type takes); an
 * allowed value, a code span anywhere in the section.
 */
function missingFromDoc(doc: string, items: Item[]): string[] {
  const cache = new Map<string, { spans: Set<string>; rows: Row[] } | null>();
  const sectionOf = (title: string) => {
    if (!cache.has(title)) {
      const text = section(doc, title);
      cache.set(title, text === null ? null : { spans: spansIn(text), rows: rowsOf(text) });
    }
    return cache.get(title)!;
  };
  const missing: string[] = [];
  for (const item of items) {
    const title = sectionTitle(item.group);
    const found = sectionOf(title);
    const layerType = item.group[1] === 'layers' && item.group.length === 3 ? item.group[2]! : null;
    if (found === null) missing.push(`${item.label} (the page has no heading '${title}')`);
    else if (item.kind === 'value') {
      if (!found.spans.has(item.token)) missing.push(`${item.label} (no \`${item.token}\` in section '${title}')`);
    } else if (layerType !== null) {
      const rows = found.rows.filter((r) => r.first.has(layerType) || r.firstText === EVERY_LAYER_ROW);
      if (!rows.some((r) => r.all.has(item.token))) missing.push(`${item.label} (no \`${item.token}\` in the \`${layerType}\` row of section '${title}')`);
    } else if (!found.rows.some((r) => r.first.has(item.token))) missing.push(`${item.label} (no table row for \`${item.token}\` in section '${title}')`);
  }
  return missing;
}

const items = schemaItems(experimentSchema());
const labels = items.map((i) => i.label);

describe('docs/experiment-file.md names every key and value of the experiment schema', () => {
  it('the walk reaches keys behind $ref, layer types, data sources and enums in lists', () => {
    expect(labels).toEqual(
      expect.arrayContaining([
        'name',
        'sweep.zip',
        'sweep.rank',
        'data.source: "npz"',
        'data.labels: "coarse"',
        'data.channels: 3',
        'data.download.archive.sha256',
        'data.urls.testLabels.url',
        'teacher.model',
        'teacher.output: "probabilities"',
        'student.layers.type: "concatenate"',
        'student.layers.depthwiseConv2d.depthMultiplier',
        'student.layers.batchNormalization.epsilon',
        'teacher.layers.add.inputs',
        'student.layers.globalAveragePooling2d.name',
        'student.training.schedule.type: "cosine"',
        'student.training.augment.translate',
        'teacher.training.earlyStopping.monitor: "val_accuracy"',
        'evaluation.metrics: "perClass"',
        'quantization.mode: "dynamic-range"',
      ]),
    );
    expect(items.length).toBeGreaterThan(300);
  });

  it('every one of them appears in its section', () => {
    expect(missingFromDoc(DOC, items)).toEqual([]);
  });

  it('a key without its table row, a layer argument outside its row, a value outside its section are reported by name', () => {
    // `rank` is still named in the sweep section's prose, but its row is what documents it.
    const withoutRankRow = DOC.replace(/^\| `rank` \|.*\n/m, '');
    expect(withoutRankRow).not.toBe(DOC);
    expect(missingFromDoc(withoutRankRow, items)).toEqual(["sweep.rank (no table row for `rank` in section '`sweep`')"]);
    // Both roles take the same training keys and layers, so both are named.
    const withoutTranslateRow = DOC.replace(/^\| `translate` \|.*\n/m, '');
    expect(missingFromDoc(withoutTranslateRow, items)).toEqual([
      "teacher.training.augment.translate (no table row for `translate` in section '`training`')",
      "student.training.augment.translate (no table row for `translate` in section '`training`')",
    ]);
    const depthwiseRow = /^\| `depthwiseConv2d` \|.*$/m;
    const withoutMultiplier = DOC.replace(depthwiseRow, (row) => row.replace('`depthMultiplier` (`1`, up to 1024: output channels per input channel), ', ''));
    expect(withoutMultiplier).not.toBe(DOC);
    expect(missingFromDoc(withoutMultiplier, items)).toEqual([
      "teacher.layers.depthwiseConv2d.depthMultiplier (no `depthMultiplier` in the `depthwiseConv2d` row of section 'Layers')",
      "student.layers.depthwiseConv2d.depthMultiplier (no `depthMultiplier` in the `depthwiseConv2d` row of section 'Layers')",
    ]);
    // A value named only in another section does not count: `coarse` moved out of the data section.
    const coarseElsewhere = DOC.replaceAll('`coarse`', 'coarse') + '\n## Elsewhere\n\n`coarse`\n';
    expect(missingFromDoc(coarseElsewhere, items)).toEqual(['data.labels: "coarse" (no `coarse` in section \'`data`\')']);
    // A section that is gone is named, with every key it held.
    const noSweep = DOC.replace('## `sweep`', '## Sweeps');
    expect(missingFromDoc(noSweep, items)).toEqual(expect.arrayContaining(["sweep.rank (the page has no heading '`sweep`')"]));
  });

  it('section() stops at the next heading of the same level and ignores # lines in code blocks', () => {
    const doc = '## A\n\n`a`\n\n```yaml\n# not a heading\n```\n\n### A.1\n\n`b`\n\n## B\n\n`c`\n';
    expect(section(doc, 'A')).toBe('## A\n\n`a`\n\n```yaml\n# not a heading\n```\n\n### A.1\n\n`b`\n');
    expect(section(doc, 'A.1')).toBe('### A.1\n\n`b`\n');
    expect(section(doc, 'C')).toBeNull();
  });
});
