/**
 * The .npy array format: magic `\x93NUMPY`, a major and minor version byte, the header length
 * (uint16 little-endian in version 1, uint32 in 2 and 3), then an ASCII Python dict literal with
 * `descr` (e.g. '|u1', '<f4', '<i8'), `fortran_order` and `shape`, space-padded and ending in a
 * newline; then the raw values. The dict is parsed here, never evaluated.
 */
import { badFile, bytes } from './bad-file.ts';

/** An element type: its kind (numpy's `b i u f c O U S V M m`), size in bytes and byte order. */
export interface NpyDtype {
  kind: string;
  size: number;
  littleEndian: boolean;
  /** As numpy writes it, for messages: `<f4`. */
  descr: string;
}

export interface NpyHeader {
  dtype: NpyDtype;
  fortranOrder: boolean;
  shape: number[];
  /** Byte offset of the first value. */
  dataOffset: number;
}

/** Where an array lives, for errors: the .npz file and its member. */
export interface NpyPlace {
  file: string;
  entry: string;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const FIX = 'write the array with numpy (numpy.save, numpy.savez or numpy.savez_compressed)';

type PyValue = string | number | boolean | PyValue[] | { [k: string]: PyValue };

/** A parser of the Python literals a .npy header holds: dicts, tuples, lists, strings, ints, True/False. */
function parsePyLiteral(text: string, fail: (at: number, what: string) => Error): PyValue {
  let i = 0;
  const ws = () => {
    while (i < text.length && /\s/.test(text[i])) i++;
  };
  const value = (): PyValue => {
    ws();
    const c = text[i];
    if (c === '{' || c === '(' || c === '[') {
      const close = c === '{' ? '}' : c === '(' ? ')' : ']';
      i++;
      const items: PyValue[] = [];
      const dict: Record<string, PyValue> = {};
      for (;;) {
        ws();
        if (text[i] === close) {
          i++;
          return c === '{' ? dict : items;
        }
        const v = value();
        if (c === '{') {
          ws();
          if (text[i] !== ':') throw fail(i, `expected ':' after a key`);
          i++;
          if (typeof v !== 'string') throw fail(i, 'expected a string key');
          dict[v] = value();
        } else items.push(v);
        ws();
        if (text[i] === ',') i++;
        else if (text[i] !== close) throw fail(i, `expected ',' or '${close}'`);
      }
    }
    if (c === "'" || c === '"') {
      const end = text.indexOf(c, i + 1);
      if (end < 0) throw fail(i, 'an unterminated string');
      const s = text.slice(i + 1, end);
      i = end + 1;
      return s;
    }
    const m = /^(True|False|-?\d+L?)/.exec(text.slice(i));
    if (!m) throw fail(i, 'expected a value');
    i += m[0].length;
    if (m[0] === 'True' || m[0] === 'False') return m[0] === 'True';
    return Number(m[0].replace('L', ''));
  };
  const v = value();
  ws();
  if (i !== text.length) throw fail(i, 'text after the header dict');
  return v;
}

export function parseDescr(descr: string): NpyDtype | null {
  const m = /^([<>|=])([a-zA-Z])(\d*)$/.exec(descr); // object arrays are '|O', without a size
  if (!m) return null;
  // '|' (byte order not applicable) and '=' (native) are little-endian on every machine kdq runs on.
  return { kind: m[2], size: Number(m[3] || 0), littleEndian: m[1] !== '>', descr };
}

/** Parses the header at the start of `b` (the whole array or a prefix holding the header). */
export function parseNpyHeader(b: Uint8Array, at: NpyPlace): NpyHeader {
  const fail = (byte: number, problem: string, fix = FIX) => badFile(at.file, { entry: at.entry, byte }, problem, fix);
  if (b.length < 10 || MAGIC.some((v, i) => b[i] !== v)) {
    const found = Buffer.from(b.subarray(0, 6)).toString('latin1');
    throw fail(0, `found ${JSON.stringify(found)}, expected the .npy magic "\\x93NUMPY"`);
  }
  const major = b[6];
  if (major < 1 || major > 3) throw fail(6, `.npy format version ${major}.${b[7]}, expected 1.0, 2.0 or 3.0`);
  const lenBytes = major === 1 ? 2 : 4;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (b.length < 8 + lenBytes) throw fail(b.length, 'the array ends inside its header');
  const headerLen = major === 1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
  const dataOffset = 8 + lenBytes + headerLen;
  if (b.length < dataOffset) throw fail(b.length, `the array ends inside its ${bytes(headerLen)}-byte header dict`);
  const text = Buffer.from(b.subarray(8 + lenBytes, dataOffset)).toString(major === 3 ? 'utf8' : 'latin1');
  const dict = parsePyLiteral(text.trimEnd(), (i, what) => fail(8 + lenBytes + i, `the header dict is not a Python literal: ${what}`));
  if (typeof dict !== 'object' || Array.isArray(dict)) throw fail(8 + lenBytes, 'the header is not a dict');
  const { descr, fortran_order: fortran, shape } = dict as Record<string, PyValue>;
  if (typeof descr !== 'string') {
    throw fail(
      8 + lenBytes,
      `descr ${JSON.stringify(descr)} is a structured dtype, expected a plain one like '|u1' or '<f4'`,
      'save plain arrays, one per name',
    );
  }
  const dtype = parseDescr(descr);
  if (!dtype) throw fail(8 + lenBytes, `descr '${descr}' is not a numpy type string`);
  if (typeof fortran !== 'boolean') throw fail(8 + lenBytes, `fortran_order is ${JSON.stringify(fortran)}, expected True or False`);
  if (!Array.isArray(shape) || !shape.every((d) => typeof d === 'number' && Number.isInteger(d) && d >= 0)) {
    throw fail(8 + lenBytes, `shape ${JSON.stringify(shape)}, expected a tuple of sizes`);
  }
  return { dtype, fortranOrder: fortran, shape: shape as number[], dataOffset };
}

/** Checks that `dataLength` bytes after the header hold exactly the values the header declares. */
export function checkNpyLength(h: NpyHeader, dataLength: number, at: NpyPlace): void {
  const need = h.shape.reduce((a, b) => a * b, 1) * h.dtype.size;
  if (dataLength === need) return;
  throw badFile(
    at.file,
    { entry: at.entry, byte: h.dataOffset + Math.min(dataLength, need) },
    `the array has ${bytes(dataLength)} data bytes, but shape (${h.shape.join(', ')}) of '${h.dtype.descr}' needs ${bytes(need)}` +
      (dataLength < need ? ': it is truncated' : ''),
    FIX,
  );
}
