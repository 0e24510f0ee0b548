/**
 * A TF.js LayersModel teacher, run on kdq's own tf.js backend (whichever initBackend chose). The
 * model is exposed as well, so that it can be fine-tuned on the run's data before distillation.
 */
import * as tf from '@tensorflow/tfjs';
import { KdqError } from '../errors.ts';
import type { ReadTeacherFile } from './files.ts';
import { matchInput, prepareInput, type Dim } from './input-shape.ts';
import { checkClasses, checkOutputValues, classesOf, resolveOutputKind, toLogProbabilities } from './output.ts';
import { checkImages, runBatches } from './run-batches.ts';
import { resolveBatchSize, resolveSettings } from './settings.ts';
import { readLayersModelFiles } from './tfjs-files.ts';
import type { TeacherOptions, TeacherOutputKind, TfjsTeacher } from './types.ts';

/** Layers that pass the previous layer's output on without changing what kind of values it is. */
const PASS_THROUGH = new Set(['Dropout', 'Flatten', 'Reshape', 'SpatialDropout1D', 'GaussianDropout', 'GaussianNoise', 'AlphaDropout']);

function activationOf(layer: tf.layers.Layer): string | undefined {
  const config = layer.getConfig() as { activation?: unknown };
  return typeof config.activation === 'string' ? config.activation : undefined;
}

/** `auto`'s answer from the layers: a softmax as the output layer's activation means probabilities. */
export function detectTfjsOutput(model: tf.LayersModel): { kind: TeacherOutputKind; reason: string } {
  let layer: tf.layers.Layer | undefined = model.outputs[0]!.sourceLayer as tf.layers.Layer;
  for (let hops = 0; layer && PASS_THROUGH.has(layer.getClassName()) && hops < model.layers.length; hops++) {
    layer = layer.inboundNodes[0]?.inboundLayers[0] as tf.layers.Layer | undefined;
  }
  if (!layer) return { kind: 'logits', reason: 'the output is not computed by a layer' };
  const cls = layer.getClassName();
  const act = activationOf(layer);
  if (cls === 'Softmax' || act === 'softmax') {
    return { kind: 'probabilities', reason: `the output layer "${layer.name}" (${cls}) ${cls === 'Softmax' ? 'is a softmax' : 'has activation softmax'}` };
  }
  return { kind: 'logits', reason: `the output layer "${layer.name}" (${cls}) has activation ${act ?? 'none'}, not softmax` };
}

async function loadModel(artifacts: tf.io.ModelArtifacts, path: string): Promise<tf.LayersModel> {
  try {
    return await tf.loadLayersModel(tf.io.fromMemory(artifacts));
  } catch (err) {
    const msg = (err as Error).message ?? String(err);
    const unknown = /Unknown (layer|activation|initializer|regularizer|constraint|loss|metric)/i.exec(msg);
    throw new KdqError(
      'E_TEACHER',
      unknown
        ? `tf.js ${tf.version.tfjs} cannot build teacher model '${path}': ${msg.split('\n')[0]}; the model uses a ${unknown[1]!.toLowerCase()} ` +
            'tf.js does not implement (a custom Keras class): replace it with a built-in one before saving, or export the model to ONNX'
        : `tf.js ${tf.version.tfjs} cannot build teacher model '${path}': ${msg.split('\n')[0]}; the model.json is corrupt or from an ` +
            'incompatible version: save it again',
      { cause: err },
    );
  }
}

/** Opens a TF.js LayersModel teacher from model.json; `main` is model.json when already read. */
export async function openTfjsTeacher(path: string, options: TeacherOptions, main?: ReadTeacherFile): Promise<TfjsTeacher> {
  const settings = resolveSettings('tfjs-layers', options, path);
  const batchSize = resolveBatchSize(options, path);
  const { files, artifacts } = await readLayersModelFiles(path, main);
  const model = await loadModel(artifacts, path);
  let closed = false;
  try {
    if (model.inputs.length !== 1 || model.outputs.length !== 1) {
      throw new KdqError(
        'E_TEACHER',
        `teacher model '${path}' has ${model.inputs.length} inputs and ${model.outputs.length} outputs; a teacher takes one batch of images and outputs one score per class`,
      );
    }
    const hwc = options.data.imageShape;
    const inDims = model.inputs[0]!.shape as Dim[];
    const matched = matchInput(inDims, hwc, settings.inputLayout, path, options.inputLayout === undefined);
    const classes = classesOf(model.outputs[0]!.shape as Dim[], path);
    if (classes === null)
      throw new KdqError(
        'E_TEACHER',
        `teacher model '${path}' does not declare its number of classes (output shape ${JSON.stringify(model.outputs[0]!.shape)})`,
      );
    checkClasses(classes, options.data.classes, path);
    const { kind: outputKind, reason: outputKindReason } = resolveOutputKind(settings.output, detectTfjsOutput(model), path);

    const pixels = hwc[0] * hwc[1] * hwc[2];
    const fixed = matched.fixedBatch !== null;
    const batch = matched.fixedBatch ?? batchSize;
    const runOne = async (images: Float32Array, start: number, count: number, size: number): Promise<Float32Array> => {
      if (closed) throw new KdqError('E_TEACHER', `teacher '${path}' was closed; open it again`);
      const input = prepareInput(images, start, count, hwc, settings, matched.form, new Float32Array(size * pixels));
      const out = tf.tidy(() => model.predict(tf.tensor(input, matched.shape(size))) as tf.Tensor);
      try {
        return (await out.data()) as Float32Array;
      } finally {
        out.dispose();
      }
    };
    const probe = new Float32Array(2 * pixels).fill(1, pixels);
    checkOutputValues(await runBatches({ n: 2, batch, fixed, classes }, (s, c, z) => runOne(probe, s, c, z), path), classes, outputKind, settings.output, path);

    return {
      format: 'tfjs-layers',
      files,
      settings,
      inputShape: [...hwc],
      classes,
      params: model.countParams(),
      outputKind,
      outputKindReason,
      runtime: `@tensorflow/tfjs ${tf.version.tfjs} (${tf.getBackend()} backend)`,
      model,
      async logits(images, n, onProgress) {
        checkImages(images, n, pixels, path);
        const values = await runBatches({ n, batch, fixed, classes }, (s, c, z) => runOne(images, s, c, z), path, onProgress);
        return outputKind === 'probabilities' ? toLogProbabilities(values) : values;
      },
      close() {
        if (closed) return;
        closed = true;
        model.dispose();
      },
    };
  } catch (err) {
    model.dispose();
    throw err;
  }
}

/** Every layer entry (`{ class_name, config: { name, ... } }`) of a Keras topology, nested models included. */
function layerEntries(node: unknown, out: Record<string, unknown>[] = []): Record<string, unknown>[] {
  if (Array.isArray(node)) for (const n of node) layerEntries(n, out);
  else if (node !== null && typeof node === 'object') {
    const o = node as Record<string, unknown>;
    const cfg = o.config as Record<string, unknown> | undefined;
    if (typeof o.class_name === 'string' && cfg && typeof cfg === 'object' && typeof cfg.name === 'string') out.push(o);
    for (const v of Object.values(o)) layerEntries(v, out);
  }
  return out;
}

/**
 * A TF.js teacher as a network that outputs logits, to fine-tune or export it: the same model,
 * with a final softmax (the output layer's activation, or a Softmax layer) made linear. Fine-tuning
 * trains on logits, and kdq's .tflite files end in their own SOFTMAX. Caller disposes.
 */
export async function loadTfjsLogitsModel(path: string): Promise<{ model: tf.LayersModel; softmaxRemoved: string | null }> {
  const { artifacts } = await readLayersModelFiles(path);
  const probe = await loadModel(artifacts, path);
  let target: { name: string; cls: string } | null = null;
  try {
    const detected = detectTfjsOutput(probe);
    if (detected.kind === 'probabilities') {
      let layer: tf.layers.Layer | undefined = probe.outputs[0]!.sourceLayer as tf.layers.Layer;
      while (layer && PASS_THROUGH.has(layer.getClassName())) layer = layer.inboundNodes[0]?.inboundLayers[0] as tf.layers.Layer | undefined;
      if (layer) target = { name: layer.name, cls: layer.getClassName() };
    }
  } finally {
    probe.dispose();
  }
  if (target === null) return { model: await loadModel(artifacts, path), softmaxRemoved: null };
  const topology = structuredClone(artifacts.modelTopology) as Record<string, unknown>;
  const entry = layerEntries(topology).find((e) => (e.config as { name: string }).name === target.name);
  if (!entry)
    throw new KdqError('E_TEACHER', `teacher model '${path}': its output layer "${target.name}" is not in model.json's topology; save the model again`);
  const cfg = entry.config as Record<string, unknown>;
  if (target.cls === 'Softmax') {
    entry.class_name = 'Activation';
    entry.config = { name: cfg.name, trainable: cfg.trainable ?? true, activation: 'linear', ...(cfg.dtype !== undefined ? { dtype: cfg.dtype } : {}) };
  } else {
    cfg.activation = 'linear';
  }
  const model = await loadModel({ ...artifacts, modelTopology: topology }, path);
  return { model, softmaxRemoved: `the softmax of layer "${target.name}" (${target.cls})` };
}
