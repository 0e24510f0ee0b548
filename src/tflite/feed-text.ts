/**
 * What `kdq inspect` says an app must feed a .tflite file and what it gets back: the input
 * tensor's layout, the preprocessing from the file's `kdq_input` metadata (or, in a kdq file
 * without it, the default of uint8 images: value / 255), the quantization of an integer input,
 * and the class of each output.
 */
import { INPUT_METADATA, inputFormula, type InputDescription } from '../data/input-description.ts';
import type { TfliteModel } from './model.ts';

/** The kdq_input entry of a file, or null when it has none (or one that is not kdq's JSON). */
export function inputDescriptionOf(m: TfliteModel): InputDescription | null {
  const raw = m.metadata[INPUT_METADATA];
  if (!raw) return null;
  try {
    const d = JSON.parse(new TextDecoder().decode(raw)) as InputDescription;
    return d && Array.isArray(d.shape) && typeof d.scale === 'number' ? d : null;
  } catch {
    return null;
  }
}

const num = (v: number) => String(Number(v.toPrecision(6)));

function classList(names: string[]): string {
  const shown = names.length > 12 ? [...names.slice(0, 12), `... (${names.length})`] : names;
  return shown.map((n, i) => (i < 12 ? `${i} ${n}` : n)).join(', ');
}

/** Lines describing the input to feed and the output to read; empty for a file that is not kdq's. */
export function feedLines(m: TfliteModel): string[] {
  const t = m.tensors[m.inputs[0]];
  const out = m.tensors[m.outputs[0]];
  if (!t || !out) return [];
  const d = inputDescriptionOf(m);
  if (!d && m.description !== 'Written by kdq.') return [];
  const image = t.shape.length === 4;
  // kdq writes [1, H, W, C] images and [1, F] rows; of any other input it can only state the shape.
  if (!image && t.shape.length !== 2) return [`feed: ${t.type} [${t.shape.join(', ')}], an input shape kdq does not write`];
  const lines: string[] = [];
  const layout = image
    ? `NHWC image: rows top to bottom, ${t.shape[3] === 3 ? 'RGB' : t.shape[3] === 1 ? 'one grey channel' : `${t.shape[3]} channels`}`
    : `one row of ${t.shape[1]} features${d?.features ? `: ${d.features.join(', ')}` : ''}`;
  lines.push(`feed: ${t.type} [${t.shape.join(', ')}], ${layout}${d ? ` (trained on ${d.source})` : ''}`);
  const values = d
    ? d.values === 'uint8'
      ? image
        ? 'pixel = the byte 0..255'
        : 'value = the stored byte'
      : image
        ? 'pixel = the stored float32 value'
        : 'value = the column as written'
    : 'pixel = the byte 0..255';
  lines.push(`  ${d ? inputFormula(d) : 'x = pixel / 255'}, ${values}${d ? '' : ' (a kdq file without kdq_input: uint8 images, default preprocessing)'}`);
  const q = t.quantization;
  if (t.type !== 'FLOAT32' && q && q.scale.length === 1) {
    const [lo, hi] = t.type === 'INT8' ? [-128, 127] : [0, 255];
    lines.push(`  then q = clamp(round(x / ${num(q.scale[0])}) + ${q.zeroPoint[0]}, ${lo}, ${hi}) as ${t.type.toLowerCase()}`);
    const scale = d?.scale ?? 1 / 255;
    if (t.type === 'UINT8' && q.zeroPoint[0] === 0 && !d?.mean && !d?.std && Math.abs(q.scale[0] - scale) < 1e-9)
      lines.push('  (that is the raw pixel bytes themselves)');
  }
  const classes = out.shape[out.shape.length - 1];
  const names = d?.classes ? `: ${classList(d.classes)}` : ': class i is label i';
  lines.push(`output: ${out.type} [${out.shape.join(', ')}], a probability per class (SOFTMAX)${names}`);
  if (classes !== undefined && d?.classes && d.classes.length !== classes)
    lines.push(`  (the file has ${classes} outputs but names ${d.classes.length} classes)`);
  return lines;
}
