/**
 * The int8 parameters of every step's output, from the calibrated ranges and the constraints of
 * the TFLite quantization spec: pools and reshape keep their input's parameters, TANH and LOGISTIC
 * have fixed ones, and CONCATENATION needs the same scale and zero point on every input and its
 * output. As the converter does, a concatenation hands its own parameters to the steps that feed
 * it where those are free to take them (a conv, an add, ...); an input that cannot (the model's
 * input, a pool, a fixed-output op, one already given another concatenation's) is requantized by
 * the export. ADD and MUL rescale their inputs themselves, so they keep calibrated outputs.
 *
 * MEAN (global average pooling) keeps its input's parameters too, although the spec lets it have
 * its own: with its own, LiteRT.js and tfjs-tflite round differently (30 of 12,800 pooled values
 * one step apart on a DS-CNN, 38 of 2,400 logits), with its input's they agree bit for bit.
 */
import type { Range } from '../quant/calibrate.ts';
import { activationParams, type AffineParams } from '../quant/params.ts';
import { INPUT_STEP, type LoweredModel, type Step } from './lower.ts';

export const LOGISTIC_OUT: AffineParams = { scale: 1 / 256, zeroPoint: -128 };
export const TANH_OUT: AffineParams = { scale: 1 / 128, zeroPoint: 0 };

export interface StepQuant {
  params: AffineParams;
  /** The float range the parameters were chosen for (written as the tensor's min/max). */
  range: Range;
}

/** Steps whose output parameters come from calibration and may be set to another range's. */
function isFree(s: Step): boolean {
  switch (s.kind) {
    case 'conv2d':
    case 'depthwiseConv2d':
    case 'dense':
    case 'add':
    case 'mul':
    case 'relu':
    case 'relu6':
      return true;
    default:
      return false;
  }
}

/** The output parameters of every step of `m`, given the input's and each step's calibrated range. */
export function planStepQuant(m: LoweredModel, input: AffineParams, ranges: Range[]): StepQuant[] {
  // A concatenation's parameters, handed to the free steps that feed it (the first concatenation to ask wins).
  const given = new Map<number, StepQuant>();
  m.steps.forEach((s, i) => {
    if (s.kind !== 'concatenate') return;
    const own = { params: activationParams(ranges[i]!.min, ranges[i]!.max), range: ranges[i]! };
    for (const p of s.inputs) if (p !== INPUT_STEP && isFree(m.steps[p]!) && !given.has(p)) given.set(p, own);
  });
  const out: StepQuant[] = [];
  m.steps.forEach((s, i) => {
    const range = ranges[i]!;
    const claimed = given.get(i);
    if (claimed) out.push(claimed);
    else if (s.kind === 'maxPool' || s.kind === 'averagePool' || s.kind === 'reshape' || s.kind === 'mean') {
      const from = s.inputs[0]!;
      out.push({ params: from === INPUT_STEP ? input : out[from]!.params, range });
    } else if (s.kind === 'tanh') out.push({ params: TANH_OUT, range });
    else if (s.kind === 'sigmoid') out.push({ params: LOGISTIC_OUT, range });
    else out.push({ params: activationParams(range.min, range.max), range });
  });
  return out;
}

/** Whether two parameter sets quantize identically (as written to the file, in float32). */
export function sameParams(a: AffineParams, b: AffineParams): boolean {
  return Math.fround(a.scale) === Math.fround(b.scale) && a.zeroPoint === b.zeroPoint;
}
