/**
 * Bounds-checked reading of a flatbuffer. Every offset, vtable, table, vector and string is checked
 * against the file before it is read, with the alignment rules of flatbuffers' own Verifier (which
 * the TFLite runtimes run before loading a file), so damaged bytes end in a `Damaged` error naming
 * the field and its byte offset instead of a DataView RangeError or a silently garbled value.
 */

/** Flatbuffers strings are UTF-8 by definition; bytes that are not were damaged. */
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** What is wrong and where: `what` names the field (`tensor 3 shape`), `at` is a byte offset. */
export class Damaged extends Error {
  constructor(
    readonly what: string,
    readonly at: number,
  ) {
    super(`${what} at byte ${at}`);
    this.name = 'Damaged';
  }
}

/** A vector's first element and length, both already checked against the file. */
export interface VectorSpan {
  start: number;
  length: number;
  /** Byte offset of the length prefix, for messages. */
  at: number;
}

export class FlatView {
  private readonly v: DataView;
  constructor(readonly bytes: Uint8Array) {
    this.v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get length(): number {
    return this.bytes.length;
  }

  /** Throws unless [at, at + size) lies in the file and `at` is a multiple of `align`. */
  need(at: number, size: number, align: number, what: string): void {
    if (!Number.isSafeInteger(at) || at < 0 || at + size > this.bytes.length) {
      throw new Damaged(`${what}: ${size} byte(s) needed, past the end of the ${this.bytes.length}-byte file`, at);
    }
    if (at % align !== 0) throw new Damaged(`${what}: not aligned to ${align} bytes`, at);
  }

  u8(at: number): number {
    return this.v.getUint8(at);
  }
  i8(at: number): number {
    return this.v.getInt8(at);
  }
  u16(at: number): number {
    return this.v.getUint16(at, true);
  }
  i32(at: number): number {
    return this.v.getInt32(at, true);
  }
  u32(at: number): number {
    return this.v.getUint32(at, true);
  }
  f32(at: number): number {
    return this.v.getFloat32(at, true);
  }
  i64(at: number): bigint {
    return this.v.getBigInt64(at, true);
  }
  u64(at: number): bigint {
    return this.v.getBigUint64(at, true);
  }

  /** Follows the uoffset stored at `at` (itself checked); returns the target position. */
  deref(at: number, what: string): number {
    this.need(at, 4, 4, what);
    const rel = this.u32(at);
    // An offset of 0 points at itself; above 2^31 the Verifier refuses it as a negative soffset.
    if (rel === 0 || rel >= 2 ** 31) throw new Damaged(`${what}: offset ${rel} cannot point at an object`, at);
    const target = at + rel;
    if (target >= this.bytes.length) throw new Damaged(`${what}: offset ${rel} points past the end of the ${this.bytes.length}-byte file`, at);
    return target;
  }

  /** The table whose uoffset is stored at `at`. */
  tableAt(at: number, what: string): TableView {
    return new TableView(this, this.deref(at, what), what);
  }
}

/** One table, its vtable already checked: fields read through it are bounds-checked too. */
export class TableView {
  private readonly vt: number;
  private readonly vtSize: number;
  private readonly size: number;

  constructor(
    private readonly f: FlatView,
    readonly pos: number,
    /** Name of the table in messages, e.g. `tensor 3`. */
    readonly what: string,
  ) {
    f.need(pos, 4, 4, what);
    const vt = pos - f.i32(pos);
    f.need(vt, 4, 2, `the vtable of ${what}`);
    this.vt = vt;
    this.vtSize = f.u16(vt);
    this.size = f.u16(vt + 2);
    if (this.vtSize < 4 || this.vtSize % 2 !== 0) throw new Damaged(`the vtable of ${what}: size ${this.vtSize} is not an even number of at least 4`, vt);
    f.need(vt, this.vtSize, 2, `the vtable of ${what}`);
    if (this.size < 4) throw new Damaged(`${what}: inline size ${this.size} is less than its 4-byte vtable offset`, vt + 2);
    f.need(pos, this.size, 4, what);
  }

  /** Absolute position of a field of `bytes` bytes, or 0 when absent. */
  private field(slot: number, bytes: number, name: string): number {
    const o = 4 + 2 * slot;
    if (o + 2 > this.vtSize) return 0;
    const rel = this.f.u16(this.vt + o);
    if (rel === 0) return 0;
    if (rel < 4 || rel + bytes > this.size) {
      throw new Damaged(`${this.what} ${name}: field at +${rel} lies outside the table's ${this.size} bytes`, this.vt + o);
    }
    const at = this.pos + rel;
    this.f.need(at, bytes, Math.min(bytes, 8), `${this.what} ${name}`);
    return at;
  }

  has(slot: number): boolean {
    const o = 4 + 2 * slot;
    return o + 2 <= this.vtSize && this.f.u16(this.vt + o) !== 0;
  }
  int8(slot: number, name: string, dflt = 0): number {
    const p = this.field(slot, 1, name);
    return p ? this.f.i8(p) : dflt;
  }
  uint8(slot: number, name: string, dflt = 0): number {
    const p = this.field(slot, 1, name);
    return p ? this.f.u8(p) : dflt;
  }
  int32(slot: number, name: string, dflt = 0): number {
    const p = this.field(slot, 4, name);
    return p ? this.f.i32(p) : dflt;
  }
  uint32(slot: number, name: string, dflt = 0): number {
    const p = this.field(slot, 4, name);
    return p ? this.f.u32(p) : dflt;
  }
  uint64(slot: number, name: string): bigint {
    const p = this.field(slot, 8, name);
    return p ? this.f.u64(p) : 0n;
  }
  float32(slot: number, name: string, dflt = 0): number {
    const p = this.field(slot, 4, name);
    return p ? this.f.f32(p) : dflt;
  }
  /** Byte offset of a field (its slot in the vtable when absent), for messages. */
  offsetOf(slot: number): number {
    const o = 4 + 2 * slot;
    if (o + 2 > this.vtSize) return this.pos;
    const rel = this.f.u16(this.vt + o);
    return rel ? this.pos + rel : this.pos;
  }

  table(slot: number, name: string): TableView | undefined {
    const p = this.field(slot, 4, name);
    return p ? this.f.tableAt(p, `${this.what} ${name}`) : undefined;
  }

  /** A vector of `elementSize`-byte scalars (or offsets), checked to fit in the file. */
  vector(slot: number, elementSize: number, name: string): VectorSpan | undefined {
    const p = this.field(slot, 4, name);
    if (!p) return undefined;
    const what = `${this.what} ${name}`;
    const at = this.f.deref(p, what);
    // The Verifier checks the length prefix's alignment only (converter data is 4-byte aligned).
    this.f.need(at, 4, 4, what);
    const length = this.f.u32(at);
    if (length * elementSize > this.f.length - at - 4) {
      throw new Damaged(`${what}: ${length} elements of ${elementSize} bytes do not fit in the ${this.f.length - at - 4} bytes left`, at);
    }
    return { start: at + 4, length, at };
  }

  string(slot: number, name: string): string | undefined {
    const s = this.vector(slot, 1, name);
    if (!s) return undefined;
    if (s.start + s.length >= this.f.length || this.f.u8(s.start + s.length) !== 0) {
      throw new Damaged(`${this.what} ${name}: string of ${s.length} bytes is not followed by its 0 terminator`, s.at);
    }
    try {
      return UTF8.decode(this.f.bytes.subarray(s.start, s.start + s.length));
    } catch {
      throw new Damaged(`${this.what} ${name}: string of ${s.length} bytes is not UTF-8`, s.at);
    }
  }

  int32s(slot: number, name: string): number[] | undefined {
    const s = this.vector(slot, 4, name);
    return s && Array.from({ length: s.length }, (_, i) => this.f.i32(s.start + 4 * i));
  }
  float32s(slot: number, name: string): number[] | undefined {
    const s = this.vector(slot, 4, name);
    return s && Array.from({ length: s.length }, (_, i) => this.f.f32(s.start + 4 * i));
  }
  int64s(slot: number, name: string): bigint[] | undefined {
    const s = this.vector(slot, 8, name);
    return s && Array.from({ length: s.length }, (_, i) => this.f.i64(s.start + 8 * i));
  }
  /** A byte vector: the span only (callers copy what they keep). */
  bytes(slot: number, name: string): VectorSpan | undefined {
    return this.vector(slot, 1, name);
  }
  /** A copy of a byte vector's contents. */
  bytesSlice(span: VectorSpan): Uint8Array {
    return this.f.bytes.slice(span.start, span.start + span.length);
  }
  /** A vector of tables; `item(i)` names element i in messages. */
  tables(slot: number, name: string, item: (i: number) => string): TableView[] {
    const s = this.vector(slot, 4, name);
    if (!s) return [];
    return Array.from({ length: s.length }, (_, i) => this.f.tableAt(s.start + 4 * i, item(i)));
  }
}
