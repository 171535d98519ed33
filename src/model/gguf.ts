/**
 * GGUF v2/v3 reader (PHI3.md 3.1). Reads the header, metadata and tensor infos through a
 * growing window over a ByteSource and never touches the tensor data, so a 2.4 GB file over
 * HTTP costs one ~1 MiB range request (the Phi-3 header is ~0.7 MB, mostly its vocab).
 *
 * Every malformed input ends in a ModelFormatError naming the field and its byte offset. Size
 * fields are checked against the bytes left in the file before anything is allocated, so a
 * lying count cannot make us allocate (or download) more than the file holds.
 *
 * Metadata values map to JS as documented on `GGUFValue` in gguf-types.ts.
 */

import { ModelFormatError, ModelSourceError } from '../common/errors.ts';
import {
  GGML_TYPE_INFO,
  GGUF_SCALAR_SIZE,
  GGUF_VALUE_TYPE_NAME,
  GGUFValueType,
  ggmlTypeName,
  isKnownGGMLType,
  isSupportedGGMLType,
} from './gguf-types.ts';
import type { ByteSource, GGUFFile, GGUFValue, TensorInfo } from './gguf-types.ts';

export * from './gguf-types.ts';
export * from './gguf-meta.ts';

export const GGUF_MAGIC = 0x46554747; // "GGUF" little-endian
export const GGUF_DEFAULT_ALIGNMENT = 32;
const MAX_DIMS = 4;
/** Smallest possible KV: u64 key length (empty key) + u32 type + a 1-byte value. */
const MIN_KV_BYTES = 8 + 4 + 1;
/** Smallest possible tensor info: u64 name length + u32 n_dims + one u64 dim + u32 type + u64 offset. */
const MIN_TENSOR_INFO_BYTES = 8 + 4 + 8 + 4 + 8;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const HOST_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export interface ReadGGUFOptions {
  /** First window in bytes (default 1 MiB); it doubles whenever the header runs past it. */
  initialWindow?: number;
  /**
   * Refuse headers longer than this (default 64 MiB; Phi-3's is 0.7 MB, a 128k-token vocab with
   * merges ~10 MB). Size fields are checked against the file size, but in a 2.4 GB file a lying
   * string length could still point 2 GB ahead, and we would download it.
   */
  maxHeaderBytes?: number;
}

function fail(field: string, offset: number, problem: string, hint?: string): ModelFormatError {
  return new ModelFormatError(`GGUF: ${field}: ${problem} at offset ${offset}${hint ? ` (${hint})` : ''}`, {
    field,
    offset,
  });
}

/** A name quoted for messages: JSON-escaped, long ones cut. */
function q(s: string): string {
  return JSON.stringify(s.length > 80 ? `${s.slice(0, 77)}...` : s);
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }); // ignoreBOM: a token may be U+FEFF itself (id 30143)

/** Sequential reader over bytes [0, buf.length) of the source, growing on demand. */
class Cursor {
  buf = new Uint8Array(0);
  dv = new DataView(this.buf.buffer);
  pos = 0;
  readonly size: number;
  private readonly src: ByteSource;
  private readonly initialWindow: number;
  private readonly maxHeader: number;

  constructor(src: ByteSource, opts: ReadGGUFOptions) {
    this.src = src;
    this.size = src.size;
    this.initialWindow = Math.max(64, opts.initialWindow ?? 1 << 20);
    this.maxHeader = opts.maxHeaderBytes ?? 64 << 20;
  }

  remaining(): number {
    return this.size - this.pos;
  }

  has(n: number): boolean {
    return this.pos + n <= this.buf.length;
  }

  /** Make bytes [pos, pos+n) available, or fail naming `field`. */
  async fill(n: number, field: string): Promise<void> {
    const end = this.pos + n;
    if (end > this.size) {
      throw fail(field, this.pos, `truncated file: needs ${n} bytes, only ${this.remaining()} left`);
    }
    if (end > this.maxHeader) {
      throw fail(field, this.pos, `header runs past the ${this.maxHeader}-byte limit`, 'a size field is probably corrupt');
    }
    const have = this.buf.length;
    const want = Math.min(Math.max(have * 2, this.initialWindow, end), this.size, this.maxHeader);
    const more = await this.src.read(have, want - have);
    if (more.length !== want - have) {
      throw new ModelSourceError(`${this.src.name ?? 'source'}: asked for ${want - have} bytes at ${have}, got ${more.length}`);
    }
    const next = new Uint8Array(want);
    next.set(this.buf);
    next.set(more, have);
    this.buf = next;
    this.dv = new DataView(next.buffer);
  }

  async u32(field: string): Promise<number> {
    if (!this.has(4)) await this.fill(4, field);
    const v = this.dv.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  async u64(field: string): Promise<bigint> {
    if (!this.has(8)) await this.fill(8, field);
    const v = this.dv.getBigUint64(this.pos, true);
    this.pos += 8;
    return v;
  }

  async i64(field: string): Promise<bigint> {
    if (!this.has(8)) await this.fill(8, field);
    const v = this.dv.getBigInt64(this.pos, true);
    this.pos += 8;
    return v;
  }

  /** A count or length that must fit, `unit` bytes per item, in what is left of the file. */
  async count(field: string, unit: number, what: string): Promise<number> {
    const at = this.pos;
    const n = await this.u64(field);
    const left = this.remaining();
    if (n * BigInt(unit) > BigInt(left)) {
      throw fail(field, at, `${what} ${n} needs at least ${n * BigInt(unit)} bytes but only ${left} remain in the file`);
    }
    return Number(n);
  }

  async str(field: string): Promise<string> {
    const n = await this.count(field, 1, 'string length');
    if (!this.has(n)) await this.fill(n, field);
    const at = this.pos;
    let s: string;
    try {
      s = utf8.decode(this.buf.subarray(at, at + n));
    } catch {
      throw fail(field, at, 'string is not valid UTF-8');
    }
    this.pos += n;
    return s;
  }
}

function isValueType(t: number): t is GGUFValueType {
  return Number.isInteger(t) && t >= 0 && t <= GGUFValueType.FLOAT64;
}

/** u64/i64 as number when exact, else bigint. */
function int64Value(v: bigint): number | bigint {
  return v <= MAX_SAFE && v >= -MAX_SAFE ? Number(v) : v;
}

async function readScalar(c: Cursor, type: GGUFValueType, field: string): Promise<GGUFValue> {
  if (type === GGUFValueType.STRING) return c.str(field);
  const size = GGUF_SCALAR_SIZE[type] as number;
  if (!c.has(size)) await c.fill(size, field);
  const p = c.pos;
  c.pos += size;
  if (type === GGUFValueType.BOOL) return c.dv.getUint8(p) !== 0;
  const v = readLE(c.dv, type, p);
  return typeof v === 'bigint' ? int64Value(v) : v;
}

type NumArrayCtor =
  | Uint8ArrayConstructor | Int8ArrayConstructor | Uint16ArrayConstructor | Int16ArrayConstructor
  | Uint32ArrayConstructor | Int32ArrayConstructor | Float32ArrayConstructor | Float64ArrayConstructor
  | BigUint64ArrayConstructor | BigInt64ArrayConstructor;

const ARRAY_CTOR: Partial<Record<GGUFValueType, NumArrayCtor>> = {
  [GGUFValueType.UINT8]: Uint8Array,
  [GGUFValueType.INT8]: Int8Array,
  [GGUFValueType.UINT16]: Uint16Array,
  [GGUFValueType.INT16]: Int16Array,
  [GGUFValueType.UINT32]: Uint32Array,
  [GGUFValueType.INT32]: Int32Array,
  [GGUFValueType.FLOAT32]: Float32Array,
  [GGUFValueType.FLOAT64]: Float64Array,
  [GGUFValueType.UINT64]: BigUint64Array,
  [GGUFValueType.INT64]: BigInt64Array,
};

async function readArray(c: Cursor, base: string): Promise<{ value: GGUFValue; arrayType: GGUFValueType }> {
  const typeAt = c.pos;
  const et = await c.u32(`${base} array type`);
  if (et === GGUFValueType.ARRAY) throw fail(`${base} array type`, typeAt, 'nested arrays are not supported');
  if (!isValueType(et)) throw fail(`${base} array type`, typeAt, `unknown value type ${et}`, 'known: 0..12');
  const min = et === GGUFValueType.STRING ? 8 : (GGUF_SCALAR_SIZE[et] as number);
  const n = await c.count(`${base} array count`, min, `${GGUF_VALUE_TYPE_NAME[et]}[] count`);

  if (et === GGUFValueType.STRING) {
    const out: string[] = new Array<string>(n);
    for (let i = 0; i < n; i++) out[i] = await c.str(`${base} [${i}]`);
    return { value: out, arrayType: et };
  }
  const nbytes = n * min;
  if (!c.has(nbytes)) await c.fill(nbytes, `${base} array`);
  const bytes = c.buf.subarray(c.pos, c.pos + nbytes);
  c.pos += nbytes;
  if (et === GGUFValueType.BOOL) return { value: Array.from(bytes, (b) => b !== 0), arrayType: et };
  const Ctor = ARRAY_CTOR[et] as NumArrayCtor;
  const out = new Ctor(n);
  if (HOST_LE) {
    new Uint8Array(out.buffer).set(bytes);
  } else {
    const dv = new DataView(bytes.buffer, bytes.byteOffset, nbytes);
    for (let i = 0; i < n; i++) out[i] = readLE(dv, et, i * min) as never;
  }
  return { value: out, arrayType: et };
}

/** One little-endian number of a scalar type (every element of an array on big-endian hosts). */
function readLE(dv: DataView, t: GGUFValueType, p: number): number | bigint {
  switch (t) {
    case GGUFValueType.UINT8: return dv.getUint8(p);
    case GGUFValueType.INT8: return dv.getInt8(p);
    case GGUFValueType.UINT16: return dv.getUint16(p, true);
    case GGUFValueType.INT16: return dv.getInt16(p, true);
    case GGUFValueType.UINT32: return dv.getUint32(p, true);
    case GGUFValueType.INT32: return dv.getInt32(p, true);
    case GGUFValueType.FLOAT32: return dv.getFloat32(p, true);
    case GGUFValueType.FLOAT64: return dv.getFloat64(p, true);
    case GGUFValueType.UINT64: return dv.getBigUint64(p, true);
    case GGUFValueType.INT64: return dv.getBigInt64(p, true);
    default: throw new Error(`unreachable value type ${t}`);
  }
}

function versionHint(v: number): string {
  const swapped = ((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24);
  if (swapped === 2 || swapped === 3) return 'big-endian GGUF files are not supported';
  if (v === 1) return 'GGUF v1 is obsolete; re-convert the model with a current llama.cpp';
  return 'only versions 2 and 3 are supported';
}

function magicText(m: number): string {
  const bytes = [m & 0xff, (m >>> 8) & 0xff, (m >>> 16) & 0xff, m >>> 24];
  const s = bytes.map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
  return `0x${m.toString(16).padStart(8, '0')} ("${s}")`;
}

export async function readGGUF(src: ByteSource, opts: ReadGGUFOptions = {}): Promise<GGUFFile> {
  const c = new Cursor(src, opts);

  // 1. Fixed header: magic, version, n_tensors, n_kv.
  const magic = await c.u32('magic');
  if (magic !== GGUF_MAGIC) throw fail('magic', 0, `bad magic ${magicText(magic)}`, 'not a GGUF file; expected "GGUF"');
  const version = await c.u32('version');
  if (version !== 2 && version !== 3) throw fail('version', 4, `unsupported version ${version}`, versionHint(version));
  const nTensors = await readCount(c, 'n_tensors', MIN_TENSOR_INFO_BYTES, 0);
  const nKv = await readCount(c, 'n_kv', MIN_KV_BYTES, nTensors * MIN_TENSOR_INFO_BYTES);

  // 2. Metadata.
  const metadata = new Map<string, GGUFValue>();
  const metadataTypes: GGUFFile['metadataTypes'] = new Map();
  const valueAt = new Map<string, number>();
  for (let i = 0; i < nKv; i++) {
    const keyAt = c.pos;
    const key = await c.str(`kv ${i} key`);
    if (metadata.has(key)) throw fail(`kv ${i} key`, keyAt, `duplicate key ${q(key)}`);
    const base = `kv ${i} ${q(key)}`;
    const typeAt = c.pos;
    const type = await c.u32(`${base} type`);
    if (!isValueType(type)) throw fail(`${base} type`, typeAt, `unknown value type ${type}`, 'known: 0..12');
    valueAt.set(key, c.pos);
    if (type === GGUFValueType.ARRAY) {
      const { value, arrayType } = await readArray(c, base);
      metadata.set(key, value);
      metadataTypes.set(key, { type, arrayType });
    } else {
      metadata.set(key, await readScalar(c, type, `${base} value`));
      metadataTypes.set(key, { type });
    }
  }

  // 3. Alignment.
  let alignment = GGUF_DEFAULT_ALIGNMENT;
  if (metadata.has('general.alignment')) {
    const at = valueAt.get('general.alignment') as number;
    const t = metadataTypes.get('general.alignment')!.type;
    if (t !== GGUFValueType.UINT32) throw fail('general.alignment', at, `type ${GGUF_VALUE_TYPE_NAME[t]}`, 'must be u32');
    alignment = metadata.get('general.alignment') as number;
    if (alignment === 0 || (alignment & (alignment - 1)) !== 0) {
      throw fail('general.alignment', at, `alignment ${alignment} is not a power of two`);
    }
  }

  // 4. Tensor infos.
  const tensors: TensorInfo[] = [];
  const offsetAt: number[] = [];
  const seen = new Map<string, number>();
  for (let i = 0; i < nTensors; i++) {
    const nameAt = c.pos;
    const name = await c.str(`tensor info ${i} name`);
    const prev = seen.get(name);
    if (prev !== undefined) throw fail(`tensor info ${i} name`, nameAt, `duplicate tensor name ${q(name)}`, `also tensor info ${prev}`);
    seen.set(name, i);
    const base = `tensor info ${i} ${q(name)}`;
    const ne0At = c.pos + 4; // after n_dims
    const { dims, nelements } = await readDims(c, `${base} dims`);

    const typeAt = c.pos;
    const type = await c.u32(`${base} type`);
    if (!isSupportedGGMLType(type)) {
      throw fail(`${base} type`, typeAt, isKnownGGMLType(type) ? `unsupported quant type ${ggmlTypeName(type)}` : `unknown tensor type ${type}`,
        'supported: F32, F16, BF16, Q4_0, Q8_0, Q4_K, Q5_K, Q6_K');
    }
    const { name: typeName, blockSize, typeSize } = GGML_TYPE_INFO[type];
    const ne0 = dims.length > 0 ? dims[0] : 1;
    if (ne0 % blockSize !== 0) {
      throw fail(`${base} dims`, ne0At, `ne[0] = ${ne0} is not a multiple of the ${typeName} block size ${blockSize}`);
    }
    const nbytes = (nelements / blockSize) * typeSize;

    offsetAt.push(c.pos);
    const off = await c.u64(`${base} offset`);
    if (off > MAX_SAFE) throw fail(`${base} offset`, c.pos - 8, `offset ${off} is past the end of the file`);
    const offset = Number(off);
    if (offset % alignment !== 0) throw fail(`${base} offset`, c.pos - 8, `offset ${offset} is not a multiple of the alignment ${alignment}`);
    tensors.push({ name, dims, type, offset, nbytes, nelements });
  }

  // 5. Data layout: every tensor inside the file, none overlapping.
  const headerBytes = c.pos;
  const dataOffset = Math.ceil(headerBytes / alignment) * alignment;
  tensors.forEach((t, i) => {
    if (dataOffset + t.offset + t.nbytes > c.size) {
      throw fail(`tensor info ${i} ${q(t.name)} offset`, offsetAt[i],
        `data [${dataOffset + t.offset}, ${dataOffset + t.offset + t.nbytes}) ends past the end of the file (${c.size} bytes)`);
    }
  });
  const order = tensors.map((_, i) => i).sort((a, b) => tensors[a].offset - tensors[b].offset);
  for (let k = 1; k < order.length; k++) {
    const a = tensors[order[k - 1]];
    const i = order[k];
    const b = tensors[i];
    if (a.offset + a.nbytes > b.offset) {
      throw fail(`tensor info ${i} ${q(b.name)} offset`, offsetAt[i], `data at offset ${b.offset} overlaps tensor ${q(a.name)} [${a.offset}, ${a.offset + a.nbytes})`);
    }
  }

  return { version, metadata, metadataTypes, tensors, alignment, dataOffset, fileSize: c.size, headerBytes };
}

/** n_tensors / n_kv: an i64 that must be >= 0 and fit (at `unit` bytes each) after `reserved` bytes. */
async function readCount(c: Cursor, field: string, unit: number, reserved: number): Promise<number> {
  const at = c.pos;
  const n = await c.i64(field);
  if (n < 0n) throw fail(field, at, `negative count ${n}`);
  const room = c.remaining() - reserved;
  if (n * BigInt(unit) > BigInt(room)) {
    throw fail(field, at, `count ${n} needs at least ${n * BigInt(unit)} bytes but only ${room} remain in the file`);
  }
  return Number(n);
}

async function readDims(c: Cursor, field: string): Promise<{ dims: number[]; nelements: number }> {
  const at = c.pos;
  const nDims = await c.u32(field);
  if (nDims > MAX_DIMS) throw fail(field, at, `${nDims} dimensions`, `at most ${MAX_DIMS}`);
  const dims: number[] = [];
  let nelements = 1;
  for (let j = 0; j < nDims; j++) {
    const dimAt = c.pos;
    const d = await c.i64(field);
    if (d <= 0n) throw fail(field, dimAt, `ne[${j}] = ${d}`, 'dimensions must be positive');
    if (d > MAX_SAFE || nelements * Number(d) > Number.MAX_SAFE_INTEGER) {
      throw fail(field, dimAt, `element count overflows 2^53 at ne[${j}] = ${d}`);
    }
    nelements *= Number(d);
    dims.push(Number(d));
  }
  return { dims, nelements };
}

/** Convenience for tests and small files already in memory. */
export function parseGGUF(bytes: Uint8Array, opts?: ReadGGUFOptions): Promise<GGUFFile> {
  const src: ByteSource = { size: bytes.length, read: async (o, n) => bytes.subarray(o, o + n) };
  return readGGUF(src, opts);
}
