/**
 * schemas/experiment.schema.json is JSON and cannot import src/names.ts, so this test is what
 * keeps the two in step: every enum in the schema must equal its list in names.ts.
 */
import { describe, expect, it } from 'vitest';
import { experimentSchema } from '../src/config/schema.ts';
import {
  ACTIVATIONS,
  AUGMENTATIONS,
  CIFAR100_LABEL_SETS,
  IMAGE_CHANNELS,
  NORMALIZE_MODES,
  INITIALIZERS,
  CALIBRATION_METHODS,
  DATA_SOURCES,
  EARLY_STOPPING_MONITORS,
  IDX_FILES,
  IO_TYPES,
  KD_LOSSES,
  LAYER_TYPES,
  LR_SCHEDULES,
  METRICS,
  OPTIMIZERS,
  PADDINGS,
  QUANT_MODES,
  TEACHER_INPUT_LAYOUTS,
  TEACHER_OUTPUTS,
} from '../src/names.ts';

type S = Record<string, any>;
const schema = experimentSchema() as S;
const props = schema.properties as S;
const defs = schema.$defs as S;

/** Every [json pointer, subschema] in the schema. */
function walk(node: unknown, at = '#', out: [string, S][] = []): [string, S][] {
  if (Array.isArray(node)) node.forEach((n, i) => walk(n, `${at}/${i}`, out));
  else if (node && typeof node === 'object') {
    out.push([at, node as S]);
    for (const [k, v] of Object.entries(node)) walk(v, `${at}/${k}`, out);
  }
  return out;
}

describe('schema enums equal the lists in src/names.ts', () => {
  it('layer types', () => {
    expect(defs.layer.properties.type.enum).toEqual([...LAYER_TYPES]);
    // One argument schema and one if/then branch per layer type, no more.
    expect(
      Object.keys(defs)
        .filter((k) => (LAYER_TYPES as readonly string[]).includes(k))
        .sort(),
    ).toEqual([...LAYER_TYPES].sort());
    expect(defs.layer.allOf.map((b: S) => b.if.properties.type.const)).toEqual([...LAYER_TYPES]);
    for (const t of LAYER_TYPES) expect(defs[t].properties.type.const).toBe(t);
  });

  it('activations, paddings and kernel initializers, wherever a layer takes them', () => {
    let activations = 0;
    let paddings = 0;
    let initializers = 0;
    for (const t of LAYER_TYPES) {
      const p = defs[t].properties as S;
      if (p.kernelInitializer) {
        initializers++;
        expect(p.kernelInitializer.enum).toEqual([...INITIALIZERS]);
      }
      if (p.activation) {
        activations++;
        expect(p.activation.enum).toEqual([...ACTIVATIONS]);
      }
      if (p.padding) {
        paddings++;
        expect(p.padding.enum).toEqual([...PADDINGS]);
      }
    }
    // conv2d, depthwiseConv2d, dense, activation / conv2d, depthwiseConv2d, two poolings.
    expect(activations).toBe(4);
    expect(paddings).toBe(4);
    // conv2d, depthwiseConv2d, dense.
    expect(initializers).toBe(3);
  });

  it('optimizers, losses, quantization, io types, data sources, calibration, metrics', () => {
    expect(defs.training.properties.optimizer.enum).toEqual([...OPTIMIZERS]);
    expect(defs.training.properties.schedule.properties.type.enum).toEqual([...LR_SCHEDULES]);
    expect(defs.training.properties.earlyStopping.properties.monitor.enum).toEqual([...EARLY_STOPPING_MONITORS]);
    expect(props.distillation.properties.loss.enum).toEqual([...KD_LOSSES]);
    expect(props.quantization.properties.mode.enum).toEqual([...QUANT_MODES]);
    expect(props.quantization.properties.calibration.enum).toEqual([...CALIBRATION_METHODS]);
    expect(props.quantization.properties.inputType.enum).toEqual([...IO_TYPES]);
    expect(props.quantization.properties.outputType.enum).toEqual([...IO_TYPES]);
    expect(props.data.properties.source.enum).toEqual([...DATA_SOURCES]);
    expect(props.data.properties.labels.enum).toEqual([...CIFAR100_LABEL_SETS]);
    expect(props.data.properties.normalize.enum).toEqual([...NORMALIZE_MODES]);
    expect(props.data.properties.channels.enum).toEqual([...IMAGE_CHANNELS]);
    expect(Object.keys(defs.training.properties.augment.properties)).toEqual([...AUGMENTATIONS]);
    expect(props.evaluation.properties.metrics.items.enum).toEqual([...METRICS]);
    expect(props.evaluation.properties.metrics.default).toEqual([...METRICS]);
  });

  it("an imported teacher's input layouts and outputs", () => {
    expect(defs.teacher.properties.inputLayout.enum).toEqual([...TEACHER_INPUT_LAYOUTS]);
    expect(defs.teacher.properties.output.enum).toEqual([...TEACHER_OUTPUTS]);
  });

  it('idx file keys', () => {
    for (const key of ['files', 'urls']) {
      expect(Object.keys(props.data.properties[key].properties)).toEqual([...IDX_FILES]);
      expect(props.data.properties[key].required).toEqual([...IDX_FILES]);
    }
  });

  it('has no enum that is not one of the lists', () => {
    const lists = [
      ACTIVATIONS,
      INITIALIZERS,
      CALIBRATION_METHODS,
      CIFAR100_LABEL_SETS,
      DATA_SOURCES,
      EARLY_STOPPING_MONITORS,
      IMAGE_CHANNELS,
      IO_TYPES,
      KD_LOSSES,
      LAYER_TYPES,
      LR_SCHEDULES,
      METRICS,
      NORMALIZE_MODES,
      OPTIMIZERS,
      PADDINGS,
      QUANT_MODES,
      TEACHER_INPUT_LAYOUTS,
      TEACHER_OUTPUTS,
    ].map((l) => JSON.stringify([...l]));
    const enums = walk(schema).filter(([, s]) => Array.isArray(s.enum));
    expect(enums.length).toBeGreaterThanOrEqual(14);
    for (const [at, s] of enums) expect(lists, `enum at ${at}`).toContain(JSON.stringify(s.enum));
  });
});

describe('schema habits', () => {
  it('describes every property', () => {
    const missing = walk(schema)
      .filter(([at]) => /\/properties\/[^/]+$/.test(at))
      .filter(([at, s]) => !at.includes('/if/') && !at.includes('/then/') && typeof s.description !== 'string');
    expect(missing.map(([at]) => at)).toEqual([]);
  });

  it('closes every object to unknown keys (the layer item closes through its per-type branch; if/then only add requirements)', () => {
    const open = walk(schema).filter(
      ([at, s]) =>
        s.type === 'object' && s.properties && s.additionalProperties !== false && !at.includes('/if') && !at.includes('/then') && at !== '#/$defs/layer',
    );
    expect(open.map(([at]) => at)).toEqual([]);
  });
});
