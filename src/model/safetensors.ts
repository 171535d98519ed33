/**
 * Reader for Hugging Face safetensors checkpoints, the form in which models are published before
 * anyone converts them to GGUF (Phi-3-small exists only so, in bf16). A file is
 *   u64 LE  n, the header's byte length
 *   n bytes JSON: { "__metadata__"?: {str: str}, "<tensor>": { "dtype", "shape", "data_offsets": [begin, end] }, ... }
 *   data    each tensor's bytes at [8 + n + begin, 8 + n + end), row-major, little-endian
 * A sharded checkpoint adds `model.safetensors.index.json`: { "metadata"?: {...}, "weight_map": { "<tensor>": "<shard file>" } }.
 *
 * Only the header is parsed up front; tensor bytes are read on demand, a row range at a time, from
 * a ByteSource, so a 14.8 GB checkpoint is never in memory. Everything the header claims is checked
 * against the file (sizes, bounds, overlaps) before any tensor is read.
 */
import { ModelFormatError } from '../common/errors.ts';
import type { ByteSource } from './gguf-types.ts';

/** Bytes per element of each safetensors dtype. */
export const SAFETENSORS_DTYPE_BYTES = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1, F8_E4M3: 1, F8_E5M2: 1,
} as const;
export type SafetensorsDtype = keyof typeof SAFETENSORS_DTYPE_BYTES;

export interface SafetensorsTensor {
  name: string;
  dtype: SafetensorsDtype;
  /** Outermost dimension first, as PyTorch writes it (a Linear's weight is [out, in]). */
  shape: number[];
  /** Absolute byte offset of the first element in the file. */
  offset: number;
  nbytes: number;
}

export interface SafetensorsFile {
  metadata: Record<string, string>;
  tensors: Map<string, SafetensorsTensor>;
  /** Byte offset of the data section (8 + header length). */
  dataOffset: number;
}

/** A header longer than this is not a checkpoint we can read (the real ones are well under 1 MiB). */
const MAX_HEADER_BYTES = 100 * 2 ** 20;

function bad(message: string, field?: string): ModelFormatError {
  return new ModelFormatError(`safetensors: ${message}`, { field });
}

function isDtype(d: unknown): d is SafetensorsDtype {
  return typeof d === 'string' && Object.hasOwn(SAFETENSORS_DTYPE_BYTES, d);
}

/** Parses and checks the header of a safetensors file; reads only its first 8 + n bytes. */
export async function readSafetensorsHeader(src: ByteSource): Promise<SafetensorsFile> {
  const where = src.name ? ` (${src.name})` : '';
  if (src.size < 8) throw bad(`the file${where} is ${src.size} bytes, shorter than the 8-byte header length`);
  const lenBytes = await src.read(0, 8);
  const n = Number(new DataView(lenBytes.buffer, lenBytes.byteOffset, 8).getBigUint64(0, true));
  if (n < 2 || n > MAX_HEADER_BYTES) throw bad(`header length ${n} is not plausible (2 bytes to ${MAX_HEADER_BYTES})${where}`);
  if (8 + n > src.size) throw bad(`the header needs ${8 + n} bytes but the file${where} has ${src.size}: it is truncated`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(await src.read(8, n)));
  } catch (e) {
    throw bad(`the header${where} is not valid UTF-8 JSON: ${(e as Error).message}`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) throw bad(`the header${where} is not a JSON object`);

  const dataOffset = 8 + n;
  const dataSize = src.size - dataOffset;
  const metadata: Record<string, string> = {};
  const tensors = new Map<string, SafetensorsTensor>();
  const spans: [number, number, string][] = [];
  for (const [name, value] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) throw bad('__metadata__ is not an object', name);
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== 'string') throw bad(`__metadata__.${k} is not a string`, name);
        metadata[k] = v;
      }
      continue;
    }
    const t = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (t === null || typeof t !== 'object') throw bad(`tensor "${name}" is not an object`, name);
    if (!isDtype(t.dtype)) throw bad(`tensor "${name}" has dtype ${JSON.stringify(t.dtype)}, not one of ${Object.keys(SAFETENSORS_DTYPE_BYTES).join(', ')}`, name);
    if (!Array.isArray(t.shape) || t.shape.some((d) => !Number.isSafeInteger(d) || (d as number) < 0)) {
      throw bad(`tensor "${name}" has shape ${JSON.stringify(t.shape)}, not a list of non-negative integers`, name);
    }
    const off = t.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || off.some((o) => !Number.isSafeInteger(o) || (o as number) < 0)) {
      throw bad(`tensor "${name}" has data_offsets ${JSON.stringify(off)}, not [begin, end]`, name);
    }
    const [begin, end] = off as [number, number];
    const shape = t.shape as number[];
    const elems = shape.reduce((a, d) => a * d, 1);
    const nbytes = elems * SAFETENSORS_DTYPE_BYTES[t.dtype];
    if (end - begin !== nbytes) throw bad(`tensor "${name}" (${t.dtype} [${shape.join(', ')}], ${nbytes} bytes) spans ${end - begin} bytes [${begin}, ${end})`, name);
    if (end > dataSize) throw bad(`tensor "${name}" ends at byte ${end} of a data section of ${dataSize} bytes: the file${where} is truncated`, name);
    tensors.set(name, { name, dtype: t.dtype, shape, offset: dataOffset + begin, nbytes });
    spans.push([begin, end, name]);
  }
  spans.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  for (let i = 1; i < spans.length; i++) {
    if (spans[i][0] < spans[i - 1][1]) throw bad(`tensors "${spans[i - 1][2]}" and "${spans[i][2]}" overlap in the data section`, spans[i][2]);
  }
  return { metadata, tensors, dataOffset };
}

/**
 * Rows [start, start + count) of a tensor, a row being the product of every dimension after the
 * first (a Linear's weight: `count` output rows of `in` elements). The raw little-endian bytes.
 */
export async function readSafetensorsRows(src: ByteSource, t: SafetensorsTensor, start: number, count: number): Promise<Uint8Array> {
  const rows = t.shape.length ? t.shape[0] : 1;
  if (!(Number.isInteger(start) && Number.isInteger(count) && start >= 0 && count >= 0 && start + count <= rows)) {
    throw new RangeError(`safetensors: rows [${start}, ${start + count}) of "${t.name}" are outside its ${rows} rows`);
  }
  const rowBytes = rows === 0 ? 0 : t.nbytes / rows;
  return src.read(t.offset + start * rowBytes, count * rowBytes);
}

/** bf16 -> f32: the bf16 bits are the f32's upper half, so the conversion is exact. */
export function bf16ToF32(bytes: Uint8Array): Float32Array {
  if (bytes.byteLength % 2 !== 0) throw new RangeError(`safetensors: ${bytes.byteLength} bytes are not whole bf16 values`);
  const n = bytes.byteLength / 2;
  const out = new Float32Array(n);
  const bits = new Uint32Array(out.buffer);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < n; i++) bits[i] = dv.getUint16(2 * i, true) << 16;
  return out;
}

export interface ShardIndex {
  /** Tensor name -> shard file name (relative to the index's folder). */
  weightMap: Map<string, string>;
  /** The shard files, in first-mention order. */
  shards: string[];
}

/** Parses `model.safetensors.index.json`; each shard name must be a plain file name in the same folder. */
export function parseShardIndex(text: string): ShardIndex {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw bad(`model.safetensors.index.json is not valid JSON: ${(e as Error).message}`);
  }
  const map = (json as { weight_map?: unknown } | null)?.weight_map;
  if (map === null || typeof map !== 'object' || Array.isArray(map)) throw bad('model.safetensors.index.json has no "weight_map" object', 'weight_map');
  const weightMap = new Map<string, string>();
  const shards: string[] = [];
  for (const [name, file] of Object.entries(map as Record<string, unknown>)) {
    if (typeof file !== 'string' || !/^[\w.-]+\.safetensors$/.test(file) || file.startsWith('.')) {
      throw bad(`weight_map["${name}"] is ${JSON.stringify(file)}, not a .safetensors file name in the checkpoint's folder`, 'weight_map');
    }
    weightMap.set(name, file);
    if (!shards.includes(file)) shards.push(file);
  }
  if (weightMap.size === 0) throw bad('model.safetensors.index.json maps no tensors', 'weight_map');
  return { weightMap, shards };
}
