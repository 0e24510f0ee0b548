/** `kdq inspect FILE.tflite`: a readable listing of a .tflite file. */
import { feedLines } from './feed-text.ts';
import { readTflite } from './reader.ts';
import { TENSOR_TYPE_BITS } from './schema.ts';
import type { TfliteOptions, TfliteQuantization, TfliteTensor } from './model.ts';

/** A key or name from the file as is when it is a plain word, else quoted: one entry per line. */
function word(s: string): string {
  return /^[\w.:/-]+$/.test(s) ? s : JSON.stringify(s);
}

function num(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toPrecision(6);
}

function quantText(q: TfliteQuantization): string {
  const list = (xs: number[]): string => (xs.length <= 4 ? xs.map(num).join(', ') : `${xs.slice(0, 3).map(num).join(', ')}, ... (${xs.length})`);
  const axis = q.scale.length > 1 ? ` axis ${q.quantizedDimension}` : '';
  return `scale ${list(q.scale)} zp ${list(q.zeroPoint)}${axis}`;
}

function optionsText(o: TfliteOptions | undefined): string {
  if (!o) return '';
  const { type, ...rest } = o;
  const parts = Object.entries(rest)
    .filter(([k, v]) => !(k.startsWith('dilation') && v === 1))
    .map(([k, v]) => `${k}=${String(v)}`);
  return parts.length ? ` ${parts.join(' ')}` : type === 'Other' ? ' (options not decoded)' : '';
}

/** Bytes of an activation, from its shape; unknown for STRING, RESOURCE and VARIANT. */
function tensorBytes(t: TfliteTensor): string {
  const bits = TENSOR_TYPE_BITS[t.type];
  return bits === undefined ? '?' : String(Math.ceil((t.shape.reduce((a, b) => a * b, 1) * bits) / 8));
}

/** Operators with versions and options, tensors with shape, type, quantization and bytes, and totals. */
export function inspectTflite(bytes: Uint8Array, source?: string): string {
  const m = readTflite(bytes, source);
  const lines: string[] = [];
  const ref = (i: number): string => (i < 0 ? '-' : `#${i}`);
  lines.push(`${bytes.length} bytes, ${JSON.stringify(m.description)}, subgraph ${JSON.stringify(m.subgraphName)}`);
  const io = (ids: number[]): string => ids.map((i) => `#${i} ${m.tensors[i]?.type}[${m.tensors[i]?.shape.join(',')}]`).join(', ');
  lines.push(`inputs: ${io(m.inputs)}`);
  lines.push(`outputs: ${io(m.outputs)}`);
  lines.push(...feedLines(m));
  for (const [k, v] of Object.entries(m.metadata)) {
    const text = new TextDecoder().decode(v).replace(/\0+$/, '');
    lines.push(`metadata ${word(k)}: ${/^[\x20-\x7e]*$/.test(text) ? JSON.stringify(text) : `${v.length} bytes`}`);
  }
  for (const s of m.signatures) {
    const maps = (ts: { name: string; tensor: number }[]): string => ts.map((t) => `${word(t.name)}=#${t.tensor}`).join(', ');
    lines.push(`signature ${word(s.key)}: ${maps(s.inputs)} -> ${maps(s.outputs)}`);
  }
  lines.push(`operators (${m.operators.length}):`);
  m.operators.forEach((o, k) => {
    lines.push(`  ${k}: ${o.op} v${o.version} (${o.inputs.map(ref).join(', ')}) -> (${o.outputs.map(ref).join(', ')})${optionsText(o.options)}`);
  });
  lines.push(`tensors (${m.tensors.length}):`);
  let constBytes = 0;
  m.tensors.forEach((t, i) => {
    const size = t.buffer ? t.buffer.length : tensorBytes(t);
    if (t.buffer) constBytes += t.buffer.length;
    const kind = t.buffer ? 'const' : 'act';
    const q = t.quantization ? ` ${quantText(t.quantization)}` : '';
    lines.push(`  #${i} ${t.type}[${t.shape.join(',')}] ${kind} ${size} B ${JSON.stringify(t.name)}${q}`);
  });
  lines.push(`constant data: ${constBytes} bytes`);
  return lines.join('\n');
}
