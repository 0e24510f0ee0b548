/**
 * A .tflite teacher, run in LiteRT.js (the runtime kdq already evaluates its exports in), one
 * image per call. int8/uint8 inputs are quantized and outputs dequantized with the scale and zero
 * point written in the file.
 */
import { KdqError } from '../errors.ts';
import { readTflite } from '../tflite/reader.ts';
import { inputWriter } from '../tflite/runtime/evaluate.ts';
import { loadTflite, runtimeVersion, type TensorInfo, type TfliteInterpreter } from '../tflite/runtime/index.ts';
import type { TfliteModel } from '../tflite/model.ts';
import type { ReadTeacherFile } from './files.ts';
import { readTeacherFile } from './files.ts';
import { matchInput, prepareInput } from './input-shape.ts';
import { checkClasses, checkOutputValues, classesOf, resolveOutputKind, toLogProbabilities } from './output.ts';
import { checkImages, runBatches } from './run-batches.ts';
import { resolveSettings } from './settings.ts';
import type { Teacher, TeacherOptions, TeacherOutputKind } from './types.ts';

const RUNTIME = 'litert';
const PROGRESS_EVERY = 256;
/** Operators that pass values through without changing what kind they are. */
const PASS_THROUGH = new Set(['RESHAPE', 'DEQUANTIZE', 'QUANTIZE', 'SQUEEZE']);
/** Operators whose constant inputs at these positions are weights and biases. */
const WEIGHT_INPUTS: Record<string, number[]> = {
  CONV_2D: [1, 2],
  DEPTHWISE_CONV_2D: [1, 2],
  FULLY_CONNECTED: [1, 2],
  TRANSPOSE_CONV: [1, 3],
};

/** `auto`'s answer from the operators: a final SOFTMAX means probabilities. */
export function detectTfliteOutput(model: TfliteModel): { kind: TeacherOutputKind; reason: string } {
  const producer = new Map<number, { op: string; inputs: number[]; index: number }>();
  model.operators.forEach((o, index) => o.outputs.forEach((t) => producer.set(t, { op: o.op, inputs: o.inputs, index })));
  let node = producer.get(model.outputs[0]!);
  for (let hops = 0; node && PASS_THROUGH.has(node.op) && hops < model.operators.length; hops++) node = producer.get(node.inputs[0]!);
  if (node?.op === 'SOFTMAX') return { kind: 'probabilities', reason: `the file ends in SOFTMAX (operator ${node.index})` };
  if (node?.op === 'LOG_SOFTMAX')
    return { kind: 'logits', reason: `the file ends in LOG_SOFTMAX (operator ${node.index}): log-probabilities are logits less a constant per row` };
  return { kind: 'logits', reason: node ? `the file ends in ${node.op} (operator ${node.index}), not SOFTMAX` : 'the output is not computed by an operator' };
}

/**
 * Elements of the weights and biases of conv, depthwise, transpose-conv and fully-connected
 * operators (a float16 file's weights are counted once, before DEQUANTIZE).
 */
export function tfliteParams(model: TfliteModel): number {
  const counted = new Set<number>();
  const producer = new Map<number, { op: string; inputs: number[] }>();
  for (const o of model.operators) for (const t of o.outputs) producer.set(t, o);
  for (const o of model.operators) {
    for (const pos of WEIGHT_INPUTS[o.op] ?? []) {
      let t = o.inputs[pos] ?? -1;
      const p = producer.get(t);
      if (p?.op === 'DEQUANTIZE') t = p.inputs[0]!;
      if (t >= 0 && model.tensors[t]?.buffer) counted.add(t);
    }
  }
  let n = 0;
  for (const t of counted) n += model.tensors[t]!.shape.reduce((a, d) => a * d, 1);
  return n;
}

function dequantize(values: ArrayLike<number>, info: TensorInfo): Float32Array {
  const out = new Float32Array(values.length);
  const q = info.quantization;
  for (let i = 0; i < values.length; i++) out[i] = q ? q.scale * (values[i]! - q.zeroPoint) : values[i]!;
  return out;
}

/** Opens a .tflite teacher; `main` is the file when the caller has read it already. */
export async function openTfliteTeacher(path: string, options: TeacherOptions, main?: ReadTeacherFile): Promise<Teacher> {
  const settings = resolveSettings('tflite', options, path);
  main ??= await readTeacherFile(path, path, 'teacher model');
  const version = runtimeVersion(RUNTIME);
  let interpreter: TfliteInterpreter;
  let model: TfliteModel;
  try {
    interpreter = await loadTflite(main.bytes, RUNTIME);
  } catch (err) {
    const msg = (err as Error).message;
    throw new KdqError(
      'E_TEACHER',
      `${version} cannot load teacher model '${path}' (${main.bytes.length} bytes; truncated, corrupt, or using an operator ` +
        `LiteRT does not implement): ${msg}`,
      { cause: err },
    );
  }
  try {
    try {
      model = readTflite(main.bytes);
    } catch (err) {
      throw new KdqError('E_TEACHER', `teacher model '${path}' is not a readable .tflite file: ${(err as Error).message}; copy or export it again`, {
        cause: err,
      });
    }
    if (interpreter.inputs.length !== 1) {
      throw new KdqError('E_TEACHER', `teacher model '${path}' takes ${interpreter.inputs.length} inputs; a teacher takes one: a batch of images`);
    }
    const input = interpreter.inputs[0]!;
    const output = interpreter.outputs[0]!;
    const hwc = options.data.imageShape;
    const matched = matchInput(input.shape, hwc, settings.inputLayout, path, options.inputLayout === undefined);
    if (matched.fixedBatch !== 1) {
      throw new KdqError(
        'E_TEACHER',
        `teacher model '${path}' takes batches of ${matched.fixedBatch}; LiteRT runs a .tflite teacher one image at a time: export it with batch 1`,
      );
    }
    const classes = classesOf(output.shape, path)!;
    checkClasses(classes, options.data.classes, path);
    const { kind: outputKind, reason: outputKindReason } = resolveOutputKind(settings.output, detectTfliteOutput(model), path);
    const write = inputWriter(input);
    const pixels = hwc[0] * hwc[1] * hwc[2];
    const buffer = new Float32Array(pixels);
    let closed = false;
    const runOne = async (images: Float32Array, start: number): Promise<Float32Array> => {
      if (closed) throw new KdqError('E_TEACHER', `teacher '${path}' was closed; open it again`);
      prepareInput(images, start, 1, hwc, settings, matched.form, buffer);
      return dequantize(interpreter.run(write(buffer)), output);
    };
    const plan = (n: number) => ({ n, batch: 1, fixed: true, classes });
    const probe = new Float32Array(2 * pixels).fill(1, pixels);
    checkOutputValues(await runBatches(plan(2), (s) => runOne(probe, s), path), classes, outputKind, settings.output, path);

    return {
      format: 'tflite',
      files: [main.file],
      settings,
      inputShape: [...hwc],
      classes,
      params: tfliteParams(model),
      outputKind,
      outputKindReason,
      runtime: version,
      async logits(images, n, onProgress) {
        checkImages(images, n, pixels, path);
        // One image per call: report progress every PROGRESS_EVERY images, not after each.
        const progress = onProgress && ((done: number, total: number) => (done % PROGRESS_EVERY === 0 || done === total) && onProgress(done, total));
        const values = await runBatches(plan(n), (s) => runOne(images, s), path, progress);
        return outputKind === 'probabilities' ? toLogProbabilities(values) : values;
      },
      close() {
        if (closed) return;
        closed = true;
        interpreter.close();
      },
    };
  } catch (err) {
    interpreter.close();
    throw err;
  }
}
