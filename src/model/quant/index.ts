/**
 * CPU quant codecs dispatched by GGML type id (PHI3.md 3.4, 5). Dequantize is bit-exact with
 * llama.cpp's dequantize_row_*; quantize follows its quantize_row_*_ref.
 */
import type { BlockFormat } from './common.ts';
import { BF16, F16, F32, dequantizeBf16, dequantizeF16, dequantizeF32, quantizeBf16, quantizeF16, quantizeF32 } from './float.ts';
import { Q4_0, dequantizeQ4_0, quantizeQ4_0 } from './q4_0.ts';
import { Q4_K, dequantizeQ4_K, quantizeQ4_K } from './q4_k.ts';
import { Q5_K, dequantizeQ5_K, quantizeQ5_K } from './q5_k.ts';
import { Q6_K, dequantizeQ6_K, quantizeQ6_K } from './q6_k.ts';
import { Q8_0, dequantizeQ8_0, quantizeQ8_0 } from './q8_0.ts';

export { f16ToF32, f32ToF16, bf16ToF32, f32ToBf16, f16Table } from './f16.ts';
export type { BlockFormat as QuantInfo } from './common.ts';

/** GGML type ids this module supports. */
export const GgmlType = {
  F32: 0,
  F16: 1,
  Q4_0: 2,
  Q8_0: 8,
  Q4_K: 12,
  Q5_K: 13,
  Q6_K: 14,
  BF16: 30,
} as const;
export type GgmlType = (typeof GgmlType)[keyof typeof GgmlType];

type Dequant = (src: Uint8Array, n: number, out?: Float32Array) => Float32Array;
type Quant = (x: Float32Array) => Uint8Array;

const CODECS: Record<GgmlType, { info: BlockFormat; dequantize: Dequant; quantize: Quant }> = {
  [GgmlType.F32]: { info: F32, dequantize: dequantizeF32, quantize: quantizeF32 },
  [GgmlType.F16]: { info: F16, dequantize: dequantizeF16, quantize: quantizeF16 },
  [GgmlType.Q4_0]: { info: Q4_0, dequantize: dequantizeQ4_0, quantize: quantizeQ4_0 },
  [GgmlType.Q8_0]: { info: Q8_0, dequantize: dequantizeQ8_0, quantize: quantizeQ8_0 },
  [GgmlType.Q4_K]: { info: Q4_K, dequantize: dequantizeQ4_K, quantize: quantizeQ4_K },
  [GgmlType.Q5_K]: { info: Q5_K, dequantize: dequantizeQ5_K, quantize: quantizeQ5_K },
  [GgmlType.Q6_K]: { info: Q6_K, dequantize: dequantizeQ6_K, quantize: quantizeQ6_K },
  [GgmlType.BF16]: { info: BF16, dequantize: dequantizeBf16, quantize: quantizeBf16 },
};

/** {name, blockSize (elements), typeSize (bytes per block)} by type id; supported types only. */
export const QUANT_INFO: Readonly<Partial<Record<number, Readonly<BlockFormat>>>> = Object.freeze(
  Object.fromEntries(Object.entries(CODECS).map(([id, c]) => [id, Object.freeze({ ...c.info })])),
);

/** Names of the other ggml type ids, for error messages (ggml.h enum ggml_type). */
const OTHER_NAMES: Record<number, string> = {
  3: 'Q4_1', 4: 'Q4_2 (removed)', 5: 'Q4_3 (removed)', 6: 'Q5_0', 7: 'Q5_1', 9: 'Q8_1', 10: 'Q2_K',
  11: 'Q3_K', 15: 'Q8_K', 16: 'IQ2_XXS', 17: 'IQ2_XS', 18: 'IQ3_XXS', 19: 'IQ1_S', 20: 'IQ4_NL',
  21: 'IQ3_S', 22: 'IQ2_S', 23: 'IQ4_XS', 24: 'I8', 25: 'I16', 26: 'I32', 27: 'I64', 28: 'F64',
  29: 'IQ1_M',
};

/** Display name of any type id, e.g. "Q4_K (12)". */
export function typeName(type: number): string {
  const name = QUANT_INFO[type]?.name ?? OTHER_NAMES[type] ?? 'unknown';
  return `${name} (${type})`;
}

export function isSupportedType(type: number): type is GgmlType {
  return Object.hasOwn(CODECS, type);
}

function codec(type: number): (typeof CODECS)[GgmlType] {
  if (!isSupportedType(type)) throw new Error(`unsupported GGML type ${typeName(type)}`);
  return CODECS[type];
}

/** QUANT_INFO[type], throwing for unsupported types. */
export function quantInfo(type: number): Readonly<BlockFormat> {
  return codec(type).info;
}

/** Bytes of n elements of `type`; n must be a multiple of the block size. */
export function rowBytes(type: number, n: number): number {
  const { name, blockSize, typeSize } = codec(type).info;
  if (!Number.isInteger(n) || n < 0 || n % blockSize !== 0) {
    throw new RangeError(`${name}: element count ${n} is not a multiple of the block size ${blockSize}`);
  }
  return (n / blockSize) * typeSize;
}

/** Decode n elements from tightly packed little-endian blocks at src[0..rowBytes(type, n)). */
export function dequantize(type: number, src: Uint8Array, n: number, out?: Float32Array): Float32Array {
  return codec(type).dequantize(src, n, out);
}

/** Encode x (length a multiple of the block size) into rowBytes(type, x.length) bytes. */
export function quantize(type: number, x: Float32Array): Uint8Array {
  return codec(type).quantize(x);
}
