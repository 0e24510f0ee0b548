/**
 * An ONNX teacher (what torch.onnx.export writes), run in ONNX Runtime's CPU build for Node
 * (onnxruntime-node). The file is read and its graph decoded by kdq first (onnx-proto.ts), so
 * shapes, class count and a final softmax are known before the runtime loads it; then the runtime
 * is asked whether it can run every operator, by creating the session.
 */
import { dirname, join } from 'node:path';
import type * as Ort from 'onnxruntime-node';
import { KdqError } from '../errors.ts';
import { readTeacherFile, type ReadTeacherFile } from './files.ts';
import { matchInput, prepareInput, type Dim } from './input-shape.ts';
import { ONNX_DATA_TYPES, ProtoError, elementCount, readOnnx, type OnnxModel, type OnnxNode } from './onnx-proto.ts';
import { checkClasses, checkOutputValues, classesOf, resolveOutputKind, toLogProbabilities } from './output.ts';
import { checkImages, runBatches } from './run-batches.ts';
import { resolveBatchSize, resolveSettings, resolveThreads } from './settings.ts';
import type { Teacher, TeacherFile, TeacherOptions, TeacherOutputKind } from './types.ts';

const FLOAT = 1;
const DOUBLE = 11;
/** Initializer types counted as parameters: float and quantized weights, not int64 shapes or indices. */
const WEIGHT_TYPES = new Set([1, 2, 3, 10, 11, 16]);
/** Nodes that pass values through without changing which class is largest or what kind they are. */
const PASS_THROUGH = new Set(['Identity', 'Reshape', 'Flatten', 'Squeeze', 'Unsqueeze', 'Dropout', 'Cast']);
/** Domains ONNX Runtime's CPU build implements. */
const KNOWN_DOMAINS = new Set(['', 'ai.onnx', 'ai.onnx.ml', 'com.microsoft']);

let ortPromise: Promise<typeof Ort> | undefined;
/** The runtime, loaded on first use: its native library is 47 MB and most runs have no ONNX teacher. */
function ort(): Promise<typeof Ort> {
  ortPromise ??= import('onnxruntime-node');
  return ortPromise;
}

/** The node whose output is the graph's first output, followed back through pass-through nodes. */
function finalNode(model: OnnxModel): OnnxNode | undefined {
  const producer = new Map<string, OnnxNode>();
  for (const node of model.nodes) for (const out of node.outputs) producer.set(out, node);
  let node = producer.get(model.outputs[0]!.name);
  for (let hops = 0; node && PASS_THROUGH.has(node.opType) && hops < model.nodes.length; hops++) {
    node = producer.get(node.inputs[0] ?? '');
  }
  return node;
}

/** `auto`'s answer from the graph: a final Softmax means probabilities. */
export function detectOnnxOutput(model: OnnxModel): { kind: TeacherOutputKind; reason: string } {
  const node = finalNode(model);
  if (node?.opType === 'Softmax') return { kind: 'probabilities', reason: `the graph ends in Softmax node "${node.name}"` };
  if (node?.opType === 'LogSoftmax') {
    return { kind: 'logits', reason: `the graph ends in LogSoftmax node "${node.name}" (log-probabilities are logits less a constant per row)` };
  }
  return { kind: 'logits', reason: node ? `the graph ends in ${node.opType} node "${node.name}", not Softmax` : 'the graph output is not computed by a node' };
}

/** Elements of the weight initializers. */
export function onnxParams(model: OnnxModel): number {
  return model.initializers.filter((i) => WEIGHT_TYPES.has(i.dataType)).reduce((n, i) => n + elementCount(i.dims), 0);
}

function dims(d: (number | string | null)[] | null): Dim[] | null {
  return d === null ? null : d.map((x) => (typeof x === 'number' && x > 0 ? x : null));
}

/** Wraps the runtime's refusal to load the model; unsupported operators are named. */
function loadError(err: unknown, model: OnnxModel, path: string, version: string): KdqError {
  const msg = (err as Error).message ?? String(err);
  const foreign = model.nodes.filter((n) => !KNOWN_DOMAINS.has(n.domain));
  const unsupported = /not a registered function\/op|Could not find an implementation|No opset import for domain|is not a registered/i.test(msg);
  if (unsupported || foreign.length > 0) {
    const names = foreign
      .map((n) => `${n.domain}:${n.opType} ("${n.name}")`)
      .slice(0, 5)
      .join(', ');
    return new KdqError(
      'E_TEACHER',
      `${version} cannot run teacher model '${path}': ${msg.trim()}` +
        (names ? `; operators outside the ONNX standard: ${names}` : '') +
        '; export the model with only standard ONNX operators (torch.onnx.export without ONNX_ATEN_FALLBACK, a newer ' +
        'opset_version, or with the unsupported layer replaced)',
      { cause: err },
    );
  }
  return new KdqError(
    'E_TEACHER',
    `${version} cannot load teacher model '${path}': ${msg.trim()}; the file is corrupt, truncated or not an ONNX model: export or copy it again`,
    { cause: err },
  );
}

/** Opens an ONNX teacher; `main` is the model file when the caller has read it already. */
export async function openOnnxTeacher(path: string, options: TeacherOptions, main?: ReadTeacherFile): Promise<Teacher> {
  const settings = resolveSettings('onnx', options, path);
  const batchSize = resolveBatchSize(options, path);
  const threads = resolveThreads(options, path);
  main ??= await readTeacherFile(path, path, 'teacher model');
  let model: OnnxModel;
  try {
    model = readOnnx(main.bytes);
  } catch (err) {
    if (!(err instanceof ProtoError)) throw err;
    throw new KdqError(
      'E_TEACHER',
      `teacher model '${path}' (${main.bytes.length} bytes) is not a readable ONNX model: ${err.message} (byte ${err.offset}); ` +
        'the file is truncated or corrupt: export or copy it again',
      { cause: err },
    );
  }
  const files: TeacherFile[] = [main.file];
  const external = [...new Set(model.initializers.flatMap((i) => (i.externalLocation === undefined ? [] : [i.externalLocation])))];
  for (const location of external) {
    files.push((await readTeacherFile(join(dirname(path), location), path, `external weights of teacher model '${path}':`)).file);
  }

  const initializerNames = new Set(model.initializers.map((i) => i.name));
  const inputs = model.inputs.filter((i) => !initializerNames.has(i.name));
  if (inputs.length !== 1) {
    throw new KdqError(
      'E_TEACHER',
      `teacher model '${path}' takes ${inputs.length} inputs (${inputs.map((i) => i.name).join(', ') || 'none'}); a teacher takes one: a batch of images`,
    );
  }
  const input = inputs[0]!;
  const output = model.outputs[0];
  if (!output) throw new KdqError('E_TEACHER', `teacher model '${path}' has no output; export it with its logits as the output`);
  if (input.elemType !== FLOAT) {
    throw new KdqError(
      'E_TEACHER',
      `teacher model '${path}' takes ${ONNX_DATA_TYPES[input.elemType] ?? `type ${input.elemType}`} input "${input.name}"; kdq feeds float32 images: export with a float32 input`,
    );
  }
  if (output.elemType !== FLOAT && output.elemType !== DOUBLE) {
    throw new KdqError(
      'E_TEACHER',
      `teacher model '${path}' outputs ${ONNX_DATA_TYPES[output.elemType] ?? `type ${output.elemType}`} ("${output.name}"); a teacher outputs float32 scores`,
    );
  }
  const inDims = dims(input.dims);
  if (inDims === null)
    throw new KdqError('E_TEACHER', `teacher model '${path}' does not declare the shape of input "${input.name}"; export it with a fixed input shape`);
  const hwc = options.data.imageShape;
  const matched = matchInput(inDims, hwc, settings.inputLayout, path, options.inputLayout === undefined);
  let classes = classesOf(dims(output.dims), path);
  if (classes !== null) checkClasses(classes, options.data.classes, path);
  const { kind: outputKind, reason: outputKindReason } = resolveOutputKind(settings.output, detectOnnxOutput(model), path);

  const rt = await ort();
  const version = `onnxruntime-node ${rt.env.versions.node ?? rt.env.versions.common}`;
  let session: Ort.InferenceSession;
  try {
    const sessionOptions: Ort.InferenceSession.SessionOptions = { logSeverityLevel: 3, interOpNumThreads: 1, intraOpNumThreads: threads };
    // With external data the runtime must find the weight files next to the model, so it opens the
    // path; otherwise it is given the exact bytes that were hashed.
    session = external.length > 0 ? await rt.InferenceSession.create(path, sessionOptions) : await rt.InferenceSession.create(main.bytes, sessionOptions);
  } catch (err) {
    throw loadError(err, model, path, version);
  }

  const pixels = hwc[0] * hwc[1] * hwc[2];
  const fixed = matched.fixedBatch !== null;
  const batch = matched.fixedBatch ?? batchSize;
  let buffer = new Float32Array(0);
  let closed = false;
  const runOne = async (images: Float32Array, start: number, count: number, size: number): Promise<Float32Array> => {
    if (closed) throw new KdqError('E_TEACHER', `teacher '${path}' was closed; open it again`);
    if (buffer.length !== size * pixels) buffer = new Float32Array(size * pixels);
    prepareInput(images, start, count, hwc, settings, matched.form, buffer);
    let result: Ort.InferenceSession.ReturnType;
    try {
      result = await session.run({ [input.name]: new rt.Tensor('float32', buffer, matched.shape(size)) });
    } catch (err) {
      throw new KdqError('E_TEACHER', `ONNX Runtime failed to run teacher model '${path}' on a batch of ${size}: ${(err as Error).message}`, { cause: err });
    }
    const data = result[output.name]!.data;
    return data instanceof Float32Array ? data : Float32Array.from(data as Float64Array);
  };
  const run = async (images: Float32Array, n: number, onProgress?: (done: number, total: number) => void): Promise<Float32Array> => {
    checkImages(images, n, pixels, path);
    const values = await runBatches({ n, batch, fixed, classes: classes! }, (s, c, z) => runOne(images, s, c, z), path, onProgress);
    return outputKind === 'probabilities' ? toLogProbabilities(values) : values;
  };

  // A probe of two images (all pixels 0, all 1) before any use: the runtime runs the graph end to
  // end, a symbolic class count becomes known, and the values are checked.
  const probe = new Float32Array(2 * pixels).fill(1, pixels);
  if (classes === null) {
    const first = await runOne(probe, 0, 1, fixed ? batch : 1);
    classes = first.length / (fixed ? batch : 1);
    checkClasses(classes, options.data.classes, path);
  }
  const probed = await runBatches({ n: 2, batch, fixed, classes }, (s, c, z) => runOne(probe, s, c, z), path);
  checkOutputValues(probed, classes, outputKind, settings.output, path);

  return {
    format: 'onnx',
    files,
    settings,
    inputShape: [...hwc],
    classes,
    params: onnxParams(model),
    outputKind,
    outputKindReason,
    runtime: version,
    logits: run,
    close() {
      if (closed) return;
      closed = true;
      void session.release();
    },
  };
}
