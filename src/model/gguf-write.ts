/**
 * GGUF v3 writer for the test-model generator and tests. The header is built in memory (it is
 * small); tensor data is streamed one tensor at a time to any sink, so a multi-GB file never has
 * to be held in memory. Layout matches gguf-py: keys in insertion order, u64 counts, the header
 * padded to the alignment, each tensor's data padded to the alignment.
 */

import { GGML_TYPE_INFO, GGUFValueType, isSupportedGGMLType, tensorBytes } from './gguf-types.ts';
import type { GGMLType } from './gguf-types.ts';

const DEFAULT_ALIGNMENT = 32;
const utf8 = new TextEncoder();

/** Little-endian byte builder; also used by tests to hand-craft malformed files. */
export class ByteWriter {
  private buf = new Uint8Array(256);
  private dv = new DataView(this.buf.buffer);
  length = 0;

  private room(n: number): number {
    if (this.length + n > this.buf.length) {
      const next = new Uint8Array(Math.max(this.buf.length * 2, this.length + n));
      next.set(this.buf.subarray(0, this.length));
      this.buf = next;
      this.dv = new DataView(next.buffer);
    }
    const at = this.length;
    this.length += n;
    return at;
  }

  // Each method claims its bytes (which may reallocate `buf`/`dv`) before touching them.
  u8(v: number): this { const at = this.room(1); this.dv.setUint8(at, v); return this; }
  i8(v: number): this { const at = this.room(1); this.dv.setInt8(at, v); return this; }
  u16(v: number): this { const at = this.room(2); this.dv.setUint16(at, v, true); return this; }
  i16(v: number): this { const at = this.room(2); this.dv.setInt16(at, v, true); return this; }
  u32(v: number): this { const at = this.room(4); this.dv.setUint32(at, v, true); return this; }
  i32(v: number): this { const at = this.room(4); this.dv.setInt32(at, v, true); return this; }
  f32(v: number): this { const at = this.room(4); this.dv.setFloat32(at, v, true); return this; }
  f64(v: number): this { const at = this.room(8); this.dv.setFloat64(at, v, true); return this; }
  u64(v: number | bigint): this { const at = this.room(8); this.dv.setBigUint64(at, BigInt(v), true); return this; }
  i64(v: number | bigint): this { const at = this.room(8); this.dv.setBigInt64(at, BigInt(v), true); return this; }
  bool(v: boolean): this { return this.u8(v ? 1 : 0); }
  /** gguf_string: u64 byte length + UTF-8 bytes. */
  str(s: string): this { const b = utf8.encode(s); return this.u64(b.length).bytes(b); }
  bytes(b: Uint8Array): this { const at = this.room(b.length); this.buf.set(b, at); return this; }
  zeros(n: number): this { const at = this.room(n); this.buf.fill(0, at, this.length); return this; }
  toBytes(): Uint8Array { return this.buf.slice(0, this.length); }
}

export type GGUFScalar = number | bigint | boolean | string;
export type GGUFWriteValue = GGUFScalar | ArrayLike<GGUFScalar>;

interface KV { key: string; type: GGUFValueType; value: GGUFWriteValue; arrayType?: GGUFValueType }

export interface WriterTensor {
  name: string;
  type: GGMLType;
  dims: number[];
  nbytes: number;
  /** Set only when a test forces an offset (then the streaming writer refuses the layout). */
  forcedOffset?: number;
}

const INT_RANGE: Partial<Record<GGUFValueType, [number, number]>> = {
  [GGUFValueType.UINT8]: [0, 0xff],
  [GGUFValueType.INT8]: [-0x80, 0x7f],
  [GGUFValueType.UINT16]: [0, 0xffff],
  [GGUFValueType.INT16]: [-0x8000, 0x7fff],
  [GGUFValueType.UINT32]: [0, 0xffffffff],
  [GGUFValueType.INT32]: [-0x80000000, 0x7fffffff],
};

function writeScalar(w: ByteWriter, type: GGUFValueType, v: GGUFScalar, key: string): void {
  const range = INT_RANGE[type];
  if (range && (typeof v !== 'number' || !Number.isInteger(v) || v < range[0] || v > range[1])) {
    throw new RangeError(`GGUFWriter: "${key}": ${String(v)} does not fit ${GGUFValueType[type]}`);
  }
  switch (type) {
    case GGUFValueType.UINT8: w.u8(v as number); break;
    case GGUFValueType.INT8: w.i8(v as number); break;
    case GGUFValueType.UINT16: w.u16(v as number); break;
    case GGUFValueType.INT16: w.i16(v as number); break;
    case GGUFValueType.UINT32: w.u32(v as number); break;
    case GGUFValueType.INT32: w.i32(v as number); break;
    case GGUFValueType.FLOAT32: w.f32(Number(v)); break;
    case GGUFValueType.FLOAT64: w.f64(Number(v)); break;
    case GGUFValueType.BOOL: w.bool(Boolean(v)); break;
    case GGUFValueType.STRING:
      if (typeof v !== 'string') throw new TypeError(`GGUFWriter: "${key}": expected a string`);
      w.str(v);
      break;
    case GGUFValueType.UINT64: w.u64(v as number | bigint); break;
    case GGUFValueType.INT64: w.i64(v as number | bigint); break;
    default: throw new TypeError(`GGUFWriter: "${key}": cannot write value type ${type} as a scalar`);
  }
}

export class GGUFWriter {
  /** Alignment of the data section and of every tensor. */
  alignment = DEFAULT_ALIGNMENT;
  private readonly kvs: KV[] = [];
  private readonly tensors: WriterTensor[] = [];

  /** `alignment` other than 32 also writes `general.alignment` (as the first key). */
  constructor(opts: { alignment?: number } = {}) {
    if (opts.alignment !== undefined && opts.alignment !== DEFAULT_ALIGNMENT) {
      this.addKV('general.alignment', GGUFValueType.UINT32, opts.alignment);
    }
  }

  /**
   * Adds a key; for `type === ARRAY`, `value` is an array (or typed array) of `arrayType`.
   * Writing `general.alignment` sets the layout alignment when it is a power of two (a test may
   * write a bad value to make a malformed file; the layout then keeps the previous alignment).
   */
  addKV(key: string, type: GGUFValueType, value: GGUFWriteValue, arrayType?: GGUFValueType): this {
    if (this.kvs.some((kv) => kv.key === key)) throw new Error(`GGUFWriter: duplicate key "${key}"`);
    if (type === GGUFValueType.ARRAY) {
      if (arrayType === undefined || arrayType === GGUFValueType.ARRAY) throw new TypeError(`GGUFWriter: "${key}": arrays need a non-array element type`);
      if (typeof value !== 'object' || value === null || typeof (value as ArrayLike<unknown>).length !== 'number') {
        throw new TypeError(`GGUFWriter: "${key}": expected an array`);
      }
    }
    if (key === 'general.alignment' && typeof value === 'number' && value > 0 && (value & (value - 1)) === 0) {
      this.alignment = value;
    }
    this.kvs.push({ key, type, value, arrayType });
    return this;
  }

  /**
   * Adds a tensor info. `nbytes` defaults to tensorBytes(type, dims); pass it (and `offset`) only
   * to make deliberately malformed files in tests.
   */
  addTensorInfo(name: string, type: GGMLType, dims: number[], nbytes?: number, offset?: number): this {
    if (this.tensors.some((t) => t.name === name)) throw new Error(`GGUFWriter: duplicate tensor "${name}"`);
    const n = nbytes ?? tensorBytes(type, dims);
    this.tensors.push({ name, type, dims: [...dims], nbytes: n, forcedOffset: offset });
    return this;
  }

  get tensorInfos(): readonly WriterTensor[] {
    return this.tensors;
  }

  /** Offsets relative to the data section: each tensor padded to the alignment (or forced). */
  get tensorOffsets(): number[] {
    const out: number[] = [];
    let at = 0;
    for (const t of this.tensors) {
      out.push(t.forcedOffset ?? at);
      at += pad(t.nbytes, this.alignment);
    }
    return out;
  }

  /** Bytes of the data section as the streaming writer lays it out. */
  get dataBytes(): number {
    return this.tensors.reduce((s, t) => s + pad(t.nbytes, this.alignment), 0);
  }

  /** Everything up to and including the padding before the tensor data. */
  headerBytes(): Uint8Array {
    const w = new ByteWriter();
    w.u32(0x46554747).u32(3).u64(this.tensors.length).u64(this.kvs.length);
    for (const { key, type, value, arrayType } of this.kvs) {
      w.str(key).u32(type);
      if (type !== GGUFValueType.ARRAY) {
        writeScalar(w, type, value as GGUFScalar, key);
        continue;
      }
      const arr = value as ArrayLike<GGUFScalar>;
      w.u32(arrayType as GGUFValueType).u64(arr.length);
      for (let i = 0; i < arr.length; i++) writeScalar(w, arrayType as GGUFValueType, arr[i], key);
    }
    const offsets = this.tensorOffsets;
    this.tensors.forEach((t, i) => {
      w.str(t.name).u32(t.dims.length);
      for (const d of t.dims) w.u64(d);
      w.u32(t.type).u64(offsets[i]);
    });
    w.zeros(pad(w.length, this.alignment) - w.length);
    return w.toBytes();
  }
}

export function pad(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}

export type ByteSink = (chunk: Uint8Array) => void | Promise<void>;
export type TensorData = Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>;

/**
 * Streams a whole file to `sink`: the header, then each tensor's data (from `data(i)`, whole or
 * in chunks) followed by its alignment padding. Returns the bytes written.
 */
export async function writeGGUF(
  w: GGUFWriter,
  data: (index: number, tensor: WriterTensor) => TensorData | Promise<TensorData>,
  sink: ByteSink,
): Promise<number> {
  if (w.tensorInfos.some((t) => t.forcedOffset !== undefined)) {
    throw new Error('writeGGUF: forced tensor offsets are for writeGGUFToBuffer only');
  }
  const header = w.headerBytes();
  await sink(header);
  let written = header.length;
  const infos = w.tensorInfos;
  for (let i = 0; i < infos.length; i++) {
    const t = infos[i];
    const d = await data(i, t);
    let n = 0;
    const chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array> = d instanceof Uint8Array ? [d] : d;
    for await (const chunk of chunks) {
      n += chunk.length;
      if (n > t.nbytes) break;
      await sink(chunk);
    }
    if (n !== t.nbytes) throw new Error(`writeGGUF: tensor "${t.name}" needs ${t.nbytes} bytes of data, got ${n > t.nbytes ? 'more' : n}`);
    const padding = pad(n, w.alignment) - n;
    if (padding > 0) await sink(new Uint8Array(padding));
    written += n + padding;
  }
  return written;
}

/**
 * A whole small file in memory. `data[i]` (zeros when absent) goes at tensor i's offset, so
 * forced offsets make overlapping or misplaced tensors for tests.
 */
export function writeGGUFToBuffer(w: GGUFWriter, data: (Uint8Array | undefined)[] = []): Uint8Array {
  const header = w.headerBytes();
  const offsets = w.tensorOffsets;
  let end = 0;
  w.tensorInfos.forEach((t, i) => {
    end = Math.max(end, pad(offsets[i] + t.nbytes, w.alignment));
  });
  const out = new Uint8Array(header.length + end);
  out.set(header);
  w.tensorInfos.forEach((t, i) => {
    const d = data[i];
    if (d === undefined) return;
    if (d.length !== t.nbytes) throw new Error(`writeGGUFToBuffer: tensor "${t.name}" needs ${t.nbytes} bytes, got ${d.length}`);
    out.set(d, header.length + offsets[i]);
  });
  return out;
}

/** Bytes per element row helper for generators: the ggml row size of `ne0` elements. */
export function rowBytes(type: GGMLType, ne0: number): number {
  if (!isSupportedGGMLType(type)) throw new RangeError(`rowBytes: unsupported type ${type}`);
  const { blockSize, typeSize } = GGML_TYPE_INFO[type];
  return (ne0 / blockSize) * typeSize;
}
