/**
 * Wiring and shape inference of layer lists with branches: which layer reads which, every mistake
 * named at its layer and key, shapes and parameter counts through adds and concatenations.
 */
import { describe, expect, it } from 'vitest';
import { resolveLayer } from '../../src/config/defaults.ts';
import type { LayerSpec } from '../../src/config/types.ts';
import { countParams, inferShapes } from '../../src/models/shapes.ts';
import { INPUT, isChain, resolveWiring } from '../../src/models/wiring.ts';

const L = (raw: Record<string, unknown>[]): LayerSpec[] => raw.map(resolveLayer);
const conv = (filters: number, extra: Record<string, unknown> = {}) => ({ type: 'conv2d', filters, kernelSize: 3, padding: 'same', ...extra });
const head = [{ type: 'flatten' }, { type: 'dense', units: 10 }];

describe('resolveWiring', () => {
  it('reads the layer before by default and the named layers (or input) when told', () => {
    const w = resolveWiring(
      L([conv(4, { name: 'a' }), conv(4), conv(4, { inputs: ['input'], name: 'c' }), { type: 'add', inputs: ['c', 'a', 'input'] }, ...head]),
    );
    expect(w.sources).toEqual([[INPUT], [0], [INPUT], [2, 0, INPUT], [3], [4]]);
    // Layer 1 reads a, but nothing reads layer 1: a dead branch.
    expect(w.issues).toEqual([
      { index: 1, key: 'type', message: expect.stringContaining("layer 1 (conv2d): its output is never used (layer 2 reads 'input' instead)") },
    ]);
    expect(isChain(w.sources)).toBe(false);
    expect(isChain(resolveWiring(L([conv(4, { name: 'a' }), { ...conv(4), inputs: ['a'] }, ...head])).sources)).toBe(true);
  });

  it('names every mistake at its layer, key and item, with the fix', () => {
    const issues = resolveWiring(
      L([
        conv(4, { name: 'bn2' }),
        conv(4, { name: 'bn2' }),
        conv(4, { name: 'input' }),
        { type: 'add', inputs: ['bn2', 'b2'] },
        { type: 'add', inputs: ['bn2'] },
        conv(4, { inputs: ['bn2', 'input'] }),
        conv(4, { inputs: ['later'] }),
        conv(4, { name: 'self', inputs: ['self'] }),
        { type: 'flatten', name: 'later' },
        { type: 'dense', units: 10 },
      ]),
    ).issues;
    const at = (index: number, key: string, item?: number) => issues.find((i) => i.index === index && i.key === key && i.item === item)?.message;
    expect(at(1, 'name')).toMatch(/name 'bn2' is already the name of layer 0; every layer name must be unique/);
    expect(at(2, 'name')).toMatch(/'input' is what inputs call the model's input, so no layer can take that name/);
    expect(at(3, 'inputs', 1)).toBe("layer 3 (add): no earlier layer is named 'b2'; did you mean 'bn2'?");
    expect(at(4, 'inputs')).toMatch(/add joins two or more layers but lists 1/);
    expect(at(5, 'inputs')).toMatch(/a conv2d layer reads one input but lists 2; join the branches first with an add or concatenate layer/);
    expect(at(6, 'inputs', 0)).toMatch(/'later' is layer 8, which comes after this one; .* move it before layer 6/);
    expect(at(7, 'inputs', 0)).toMatch(/a layer cannot read itself/);
  });

  it('an unknown name with nothing close lists the names there are', () => {
    const [issue] = resolveWiring(L([conv(4, { name: 'stem' }), { type: 'add', inputs: ['stem', 'zzzzzz'] }, ...head])).issues;
    expect(issue!.message).toBe("layer 1 (add): no earlier layer is named 'zzzzzz'; the names before it are 'input', 'stem'");
  });
});

describe('inferShapes on graphs', () => {
  it('follows branches: add keeps the shape, concatenate sums channels', () => {
    const layers = L([
      conv(8, { name: 'a' }),
      conv(8, { strides: 2 }),
      conv(8, { name: 'b' }),
      conv(8, { kernelSize: 1, strides: 2, inputs: ['a'], name: 'sc' }),
      { type: 'add', inputs: ['sc', 'b'], name: 'sum' },
      { type: 'concatenate', inputs: ['sum', 'b'] },
      ...head,
    ]);
    expect(inferShapes(layers, [28, 28, 1], 10)).toEqual({
      shapes: [[28, 28, 8], [14, 14, 8], [14, 14, 8], [14, 14, 8], [14, 14, 8], [14, 14, 16], [3136], [10]],
      issues: [],
    });
  });

  it('an add of different shapes names both inputs, their shapes and the shortcut that fixes it', () => {
    const { issues } = inferShapes(
      L([conv(8, { name: 'stem' }), conv(16, { strides: 2, name: 'down' }), { type: 'add', inputs: ['stem', 'down'] }, ...head]),
      [28, 28, 1],
      10,
    );
    expect(issues).toEqual([
      {
        index: 2,
        key: 'inputs',
        message:
          "layer 2 (add): inputs 'stem' [28, 28, 8] and 'down' [14, 14, 16] differ in shape; add sums element by element and needs equal shapes: " +
          "give 'stem' a shortcut { type: conv2d, filters: 16, kernelSize: 1, strides: 2 } and add that instead",
      },
    ]);
  });

  it('concatenate needs equal height and width', () => {
    const mismatch = inferShapes(L([conv(8, { padding: 'valid', name: 'x' }), { type: 'concatenate', inputs: ['input', 'x'] }, ...head]), [6, 6, 1], 10);
    expect(mismatch.issues).toEqual([
      {
        index: 1,
        key: 'inputs',
        message:
          "layer 1 (concatenate): inputs 'input' [6, 6, 1] and 'x' [4, 4, 8] cannot be joined: concatenate stacks channels (the last axis) and needs every other dimension equal; give both branches the same strides and padding",
      },
    ]);
  });

  it("counts parameters on each layer's own input", () => {
    const layers = L([
      conv(8, { name: 'a' }),
      conv(4, { kernelSize: 1, inputs: ['input'], name: 'b' }),
      { type: 'concatenate', inputs: ['a', 'b'] },
      { type: 'batchNormalization' },
      ...head,
    ]);
    expect(countParams(layers, [5, 5, 3])).toBe(3 * 3 * 3 * 8 + 8 + (3 * 4 + 4) + 4 * 12 + (5 * 5 * 12 * 10 + 10));
  });
});
