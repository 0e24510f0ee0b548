/**
 * A model's weights as one byte array plus a manifest. The bytes are a pure function of the weight
 * values (little-endian, in the model's weight order, names without tf.js's per-process `_1`
 * suffixes), so the pipeline can cache them and compare checksums across runs.
 */
import * as tf from '@tensorflow/tfjs';
import { KdqError } from '../errors.ts';

export interface WeightEntry {
  /** `<layer name>/<weight>`, e.g. `teacher_0_conv2d/kernel`. */
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
}

export interface SavedWeights {
  manifest: WeightEntry[];
  /** The weights in manifest order, 4 bytes per value, little-endian. */
  data: Uint8Array;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** The stable name of a weight: tf.js appends `_1`, `_2` to `name` when a name repeats in a process. */
function weightName(v: tf.LayerVariable): string {
  return (v as unknown as { originalName: string }).originalName;
}

function entries(model: tf.LayersModel): WeightEntry[] {
  return model.weights.map((v) => {
    if (v.dtype !== 'float32' && v.dtype !== 'int32') {
      throw new KdqError('E_INTERNAL', `weight ${weightName(v)} has dtype ${v.dtype}; only float32 and int32 weights can be saved`);
    }
    return { name: weightName(v), shape: [...(v.shape as number[])], dtype: v.dtype };
  });
}

const count = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** Every weight of `model` (trainable or not: batch-norm moving statistics too). */
export function saveWeights(model: tf.LayersModel): SavedWeights {
  const manifest = entries(model);
  const total = manifest.reduce((n, e) => n + count(e.shape), 0);
  const data = new Uint8Array(total * 4);
  const view = new DataView(data.buffer);
  let offset = 0;
  model.weights.forEach((v, i) => {
    const values = v.read().dataSync() as Float32Array | Int32Array;
    if (LITTLE_ENDIAN) {
      data.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), offset);
    } else {
      for (let k = 0; k < values.length; k++) {
        if (manifest[i].dtype === 'float32') view.setFloat32(offset + k * 4, values[k], true);
        else view.setInt32(offset + k * 4, values[k], true);
      }
    }
    offset += values.length * 4;
  });
  return { manifest, data };
}

/**
 * Sets `model`'s weights from `saved`. Throws KdqError E_CACHE, before changing anything, when the
 * manifest does not describe this model or the data has the wrong length.
 */
export function loadWeights(model: tf.LayersModel, saved: SavedWeights): void {
  const want = entries(model);
  const got = saved.manifest;
  const describe = (e: WeightEntry) => `${e.name} [${e.shape.join(', ')}] ${e.dtype}`;
  if (got.length !== want.length) {
    throw new KdqError(
      'E_CACHE',
      `saved weights list ${got.length} tensors but the model has ${want.length}; the entry belongs to another model: delete it and rerun`,
    );
  }
  want.forEach((w, i) => {
    const g = got[i];
    if (g.name !== w.name || g.dtype !== w.dtype || g.shape.length !== w.shape.length || g.shape.some((d, k) => d !== w.shape[k])) {
      throw new KdqError(
        'E_CACHE',
        `saved weight ${i} is ${describe(g)} but the model expects ${describe(w)}; the entry belongs to another model: delete it and rerun`,
      );
    }
  });
  const bytes = want.reduce((n, e) => n + count(e.shape) * 4, 0);
  if (saved.data.length !== bytes) {
    throw new KdqError(
      'E_CACHE',
      `saved weights hold ${saved.data.length} bytes but the manifest needs ${bytes}; the entry is truncated or corrupt: delete it and rerun`,
    );
  }
  // Copy into an aligned buffer: `data` may be a view at any byte offset (e.g. into a file buffer).
  const aligned = new Uint8Array(bytes);
  aligned.set(saved.data);
  const view = new DataView(aligned.buffer);
  let offset = 0;
  const tensors = want.map((e) => {
    const n = count(e.shape);
    const values = e.dtype === 'float32' ? new Float32Array(n) : new Int32Array(n);
    if (LITTLE_ENDIAN) {
      values.set(e.dtype === 'float32' ? new Float32Array(aligned.buffer, offset, n) : new Int32Array(aligned.buffer, offset, n));
    } else {
      for (let k = 0; k < n; k++) {
        values[k] = e.dtype === 'float32' ? view.getFloat32(offset + k * 4, true) : view.getInt32(offset + k * 4, true);
      }
    }
    offset += n * 4;
    return tf.tensor(values, e.shape, e.dtype);
  });
  try {
    model.setWeights(tensors);
  } finally {
    tf.dispose(tensors);
  }
}
