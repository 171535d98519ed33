/**
 * GGUF value and tensor types (PHI3.md 3.1, 3.4). Shared by the reader (`gguf.ts`, which
 * re-exports all of this) and the writer (`gguf-write.ts`).
 */

/** `enum gguf_type` of llama.cpp's gguf.h; the u32 tag in front of every metadata value. */
export enum GGUFValueType {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
}

/** Bytes of one scalar of each fixed-size value type (STRING and ARRAY are variable). */
export const GGUF_SCALAR_SIZE: Partial<Record<GGUFValueType, number>> = {
  [GGUFValueType.UINT8]: 1,
  [GGUFValueType.INT8]: 1,
  [GGUFValueType.UINT16]: 2,
  [GGUFValueType.INT16]: 2,
  [GGUFValueType.UINT32]: 4,
  [GGUFValueType.INT32]: 4,
  [GGUFValueType.FLOAT32]: 4,
  [GGUFValueType.BOOL]: 1,
  [GGUFValueType.UINT64]: 8,
  [GGUFValueType.INT64]: 8,
  [GGUFValueType.FLOAT64]: 8,
};

export const GGUF_VALUE_TYPE_NAME: Record<GGUFValueType, string> = {
  [GGUFValueType.UINT8]: 'u8',
  [GGUFValueType.INT8]: 'i8',
  [GGUFValueType.UINT16]: 'u16',
  [GGUFValueType.INT16]: 'i16',
  [GGUFValueType.UINT32]: 'u32',
  [GGUFValueType.INT32]: 'i32',
  [GGUFValueType.FLOAT32]: 'f32',
  [GGUFValueType.BOOL]: 'bool',
  [GGUFValueType.STRING]: 'string',
  [GGUFValueType.ARRAY]: 'array',
  [GGUFValueType.UINT64]: 'u64',
  [GGUFValueType.INT64]: 'i64',
  [GGUFValueType.FLOAT64]: 'f64',
};

/**
 * A metadata value as the reader returns it:
 * - u8, i8, u16, i16, u32, i32, f32, f64 -> number
 * - u64, i64 -> number when |v| <= Number.MAX_SAFE_INTEGER, else bigint
 * - bool -> boolean; string -> string
 * - array of string -> string[]; array of bool -> boolean[]
 * - array of numbers -> the typed array of that element type (u64/i64 -> BigUint64Array/BigInt64Array)
 * Nested arrays are rejected, as llama.cpp's gguf.cpp does.
 */
export type GGUFValue =
  | number
  | bigint
  | boolean
  | string
  | string[]
  | boolean[]
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | Float32Array
  | Float64Array
  | BigUint64Array
  | BigInt64Array;

/** The ggml tensor types this app can run (ids from ggml.h / PHI3.md 3.4). */
export enum GGMLType {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q8_0 = 8,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  BF16 = 30,
}

export interface GGMLTypeInfo {
  name: string;
  /** Elements per block (ne[0] must be a multiple of it). */
  blockSize: number;
  /** Bytes per block. */
  typeSize: number;
}

export const GGML_TYPE_INFO: Record<GGMLType, GGMLTypeInfo> = {
  [GGMLType.F32]: { name: 'F32', blockSize: 1, typeSize: 4 },
  [GGMLType.F16]: { name: 'F16', blockSize: 1, typeSize: 2 },
  [GGMLType.Q4_0]: { name: 'Q4_0', blockSize: 32, typeSize: 18 },
  [GGMLType.Q8_0]: { name: 'Q8_0', blockSize: 32, typeSize: 34 },
  [GGMLType.Q4_K]: { name: 'Q4_K', blockSize: 256, typeSize: 144 },
  [GGMLType.Q5_K]: { name: 'Q5_K', blockSize: 256, typeSize: 176 },
  [GGMLType.Q6_K]: { name: 'Q6_K', blockSize: 256, typeSize: 210 },
  [GGMLType.BF16]: { name: 'BF16', blockSize: 1, typeSize: 2 },
};

/** Names of ggml types that exist but that we do not run, for error messages. */
const OTHER_GGML_TYPE_NAMES: Record<number, string> = {
  3: 'Q4_1', 6: 'Q5_0', 7: 'Q5_1', 9: 'Q8_1', 10: 'Q2_K', 11: 'Q3_K', 15: 'Q8_K',
  16: 'IQ2_XXS', 17: 'IQ2_XS', 18: 'IQ3_XXS', 19: 'IQ1_S', 20: 'IQ4_NL', 21: 'IQ3_S',
  22: 'IQ2_S', 23: 'IQ4_XS', 24: 'I8', 25: 'I16', 26: 'I32', 27: 'I64', 28: 'F64',
  29: 'IQ1_M', 31: 'Q4_0_4_4', 32: 'Q4_0_4_8', 33: 'Q4_0_8_8', 34: 'TQ1_0', 35: 'TQ2_0',
  36: 'IQ4_NL_4_4', 37: 'IQ4_NL_4_8', 38: 'IQ4_NL_8_8', 39: 'MXFP4',
};

export function isSupportedGGMLType(id: number): id is GGMLType {
  return Object.prototype.hasOwnProperty.call(GGML_TYPE_INFO, id);
}

/** "Q4_K" for supported ids, "Q4_1" for known unsupported ones, "type 99" otherwise. */
export function ggmlTypeName(id: number): string {
  if (isSupportedGGMLType(id)) return GGML_TYPE_INFO[id].name;
  return OTHER_GGML_TYPE_NAMES[id] ?? `type ${id}`;
}

/** Whether `id` is a ggml type at all (supported or not). */
export function isKnownGGMLType(id: number): boolean {
  return isSupportedGGMLType(id) || OTHER_GGML_TYPE_NAMES[id] !== undefined;
}

/**
 * Bytes of a tensor of `type` with shape `dims` (ne, ne[0] fastest):
 * (ne0 / blockSize) * typeSize * ne1 * ne2 * ne3. Throws RangeError if ne[0] is not a
 * multiple of the block size (the reader reports that case as a ModelFormatError first).
 */
export function tensorBytes(type: GGMLType, dims: readonly number[]): number {
  const info = GGML_TYPE_INFO[type];
  if (!info) throw new RangeError(`tensorBytes: unsupported ggml type ${ggmlTypeName(type)}`);
  const ne0 = dims.length > 0 ? dims[0] : 1;
  if (ne0 % info.blockSize !== 0) {
    throw new RangeError(`tensorBytes: ne[0]=${ne0} is not a multiple of ${info.name}'s block size ${info.blockSize}`);
  }
  let n = (ne0 / info.blockSize) * info.typeSize;
  for (let i = 1; i < dims.length; i++) n *= dims[i];
  return n;
}

export interface TensorInfo {
  name: string;
  /** ne: ne[0] is the fastest-varying axis (an HF Linear [out, in] is ne = [in, out]). */
  dims: number[];
  type: GGMLType;
  /** Relative to GGUFFile.dataOffset; a multiple of the alignment. */
  offset: number;
  nbytes: number;
  nelements: number;
}

export interface GGUFFile {
  version: number;
  metadata: Map<string, GGUFValue>;
  /** The stored type of each metadata value (arrayType for arrays), in file order. */
  metadataTypes: Map<string, { type: GGUFValueType; arrayType?: GGUFValueType }>;
  tensors: TensorInfo[];
  alignment: number;
  /** Absolute file offset of the tensor data section (end of the header padded to `alignment`). */
  dataOffset: number;
  fileSize: number;
  /** Bytes of header, metadata and tensor infos, before the padding. */
  headerBytes: number;
}

/** A random-access view of the file: a Blob, an HTTP URL with Range requests, a Node file, bytes. */
export interface ByteSource {
  readonly size: number;
  /** Exactly `length` bytes at `offset` (callers never read past `size`). */
  read(offset: number, length: number): Promise<Uint8Array>;
  readonly name?: string;
}
