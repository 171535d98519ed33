/**
 * Lossless repacking of a GGUF tensor (rows x k elements, row-major, each row k/blockSize
 * consecutive blocks) into the aligned layout the GPU kernels read (shaders/weights_*.wgsl).
 *
 *   Q4_K (144 B), Q5_K (176 B)   blocks = the file's blocks as they are (36 / 44 u32 each)
 *   Q6_K (210 B)                 blocks = ql|qh|scales (208 B = 52 u32), scales = f16 d
 *   Q4_0 (18 B), Q8_0 (34 B)     blocks = qs (16 / 32 B = 4 / 8 u32),    scales = f16 d
 *   F32, F16, BF16               blocks = the row as it is (F16/BF16 need an even k)
 *
 * `scales` holds the f16 `d` of each block, two per u32 (block 2i in the low half). Each ROW of
 * scales is padded to whole u32s (2 bytes when a row has an odd block count, which no Phi-3 shape
 * has). That padding is what makes any row range a self-contained piece: the repacked bytes of
 * rows [a, b) are exactly bytes [a, b) * rowBytes of `blocks` and of `scales`, so tensors that
 * arrive in pieces, or are split by rows for the GPU's binding limit, need no carried state.
 */
import { GgmlType, QUANT_INFO, rowBytes, typeName } from './quant/index.ts';

export interface RepackedTensor {
  type: GgmlType;
  /** Rows in this tensor (or in this row range of a larger one). */
  rows: number;
  /** Elements per row. */
  k: number;
  /** rows * repackedRowBytes(type, k).blocks bytes, 4-byte aligned rows. */
  blocks: Uint8Array;
  /** rows * repackedRowBytes(type, k).scales bytes; only for Q4_0, Q8_0 and Q6_K. */
  scales?: Uint8Array;
}

/** Where the f16 `d` sits in a block of the types that split it out, and the block size. */
const SPLIT: Partial<Record<GgmlType, { typeSize: number; dOffset: number }>> = {
  [GgmlType.Q4_0]: { typeSize: 18, dOffset: 0 },
  [GgmlType.Q8_0]: { typeSize: 34, dOffset: 0 },
  [GgmlType.Q6_K]: { typeSize: 210, dOffset: 208 },
};

export interface RepackedRowBytes {
  /** Bytes of one row in the original (GGUF) layout. */
  raw: number;
  /** Bytes of one row in `blocks` (always a multiple of 4; of 16 for every quant type). */
  blocks: number;
  /** Bytes of one row in `scales` (0 when the type keeps `d` inside its blocks). */
  scales: number;
}

function checkType(type: number): asserts type is GgmlType {
  if (QUANT_INFO[type] === undefined) throw new Error(`repack: unsupported GGML type ${typeName(type)}`);
}

/** Byte sizes of one row of `k` elements, before and after repacking. Throws on a bad k. */
export function repackedRowBytes(type: number, k: number): RepackedRowBytes {
  checkType(type);
  const raw = rowBytes(type, k); // checks that k is a whole number of blocks
  if (k <= 0) throw new RangeError(`repack: row length ${k} must be positive`);
  if ((type === GgmlType.F16 || type === GgmlType.BF16) && k % 2 !== 0) {
    throw new RangeError(`repack: ${typeName(type)} rows need an even length for u32 alignment, got ${k}`);
  }
  const split = SPLIT[type];
  if (!split) return { raw, blocks: raw, scales: 0 };
  const nb = raw / split.typeSize;
  return { raw, blocks: nb * (split.typeSize - 2), scales: Math.ceil(nb / 2) * 4 };
}

/** Repacks whole rows: `raw` holds rows * rowBytes(type, k) bytes in GGUF order. */
export function repack(type: number, k: number, raw: Uint8Array, opts: RepackOptions = {}): RepackedTensor {
  const rb = repackedRowBytes(type, k);
  if (raw.length % rb.raw !== 0) {
    throw new RangeError(`repack: ${raw.length} bytes is not a whole number of ${typeName(type)} rows of ${k} (${rb.raw} B each)`);
  }
  const rows = raw.length / rb.raw;
  const split = SPLIT[type as GgmlType];
  if (!split) return { type: type as GgmlType, rows, k, blocks: opts.copy === false ? raw : raw.slice() };

  const { typeSize, dOffset } = split;
  const qBytes = typeSize - 2;
  const nb = rb.raw / typeSize;
  const blocks = new Uint8Array(rows * rb.blocks);
  const scales = new Uint8Array(rows * rb.scales);
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < nb; b++) {
      const src = r * rb.raw + b * typeSize;
      const q = src + (dOffset === 0 ? 2 : 0);
      blocks.set(raw.subarray(q, q + qBytes), r * rb.blocks + b * qBytes);
      const s = r * rb.scales + 2 * b;
      scales[s] = raw[src + dOffset];
      scales[s + 1] = raw[src + dOffset + 1];
    }
  }
  return { type: type as GgmlType, rows, k, blocks, scales };
}

export interface RepackOptions {
  /** false: types stored as they are may return (a view of) `raw` itself instead of a copy. */
  copy?: boolean;
}

/** Repacks rows [rowStart, rowStart + rowCount) of a tensor whose raw bytes are `raw`. */
export function repackRows(type: number, k: number, raw: Uint8Array, rowStart: number, rowCount: number, opts: RepackOptions = {}): RepackedTensor {
  const rb = repackedRowBytes(type, k);
  const end = (rowStart + rowCount) * rb.raw;
  if (rowStart < 0 || rowCount < 0 || end > raw.length) {
    throw new RangeError(`repack: rows [${rowStart}, ${rowStart + rowCount}) lie outside ${raw.length / rb.raw} rows`);
  }
  return repack(type, k, raw.subarray(rowStart * rb.raw, end), opts);
}

/** The inverse of repack: the original GGUF bytes. */
export function unrepack(t: RepackedTensor): Uint8Array {
  const rb = repackedRowBytes(t.type, t.k);
  if (t.blocks.length !== t.rows * rb.blocks || (t.scales?.length ?? 0) !== t.rows * rb.scales) {
    throw new RangeError(`unrepack: ${typeName(t.type)} ${t.rows}x${t.k}: blocks/scales sizes do not match the shape`);
  }
  const split = SPLIT[t.type];
  if (!split) return t.blocks.slice();
  const scales = t.scales as Uint8Array;
  const { typeSize, dOffset } = split;
  const qBytes = typeSize - 2;
  const nb = rb.raw / typeSize;
  const raw = new Uint8Array(t.rows * rb.raw);
  for (let r = 0; r < t.rows; r++) {
    for (let b = 0; b < nb; b++) {
      const dst = r * rb.raw + b * typeSize;
      const src = r * rb.blocks + b * qBytes;
      raw.set(t.blocks.subarray(src, src + qBytes), dst + (dOffset === 0 ? 2 : 0));
      const s = r * rb.scales + 2 * b;
      raw[dst + dOffset] = scales[s];
      raw[dst + dOffset + 1] = scales[s + 1];
    }
  }
  return raw;
}

/**
 * Joins row ranges (in row order) of one tensor into one; byte concatenation thanks to the row
 * padding. A single part is returned as it is (no copy).
 */
export function concatRepacked(parts: readonly RepackedTensor[]): RepackedTensor {
  if (parts.length === 0) throw new RangeError('concatRepacked: no parts');
  if (parts.length === 1) return parts[0];
  const { type, k } = parts[0];
  for (const p of parts) {
    if (p.type !== type || p.k !== k) throw new RangeError('concatRepacked: parts of different tensors');
  }
  const join = (arrays: Uint8Array[]): Uint8Array => {
    const out = new Uint8Array(arrays.reduce((n, a) => n + a.length, 0));
    let o = 0;
    for (const a of arrays) {
      out.set(a, o);
      o += a.length;
    }
    return out;
  };
  const rows = parts.reduce((n, p) => n + p.rows, 0);
  const blocks = join(parts.map((p) => p.blocks));
  if (!SPLIT[type]) return { type, rows, k, blocks };
  return { type, rows, k, blocks, scales: join(parts.map((p) => p.scales as Uint8Array)) };
}

export interface RowRange {
  rowStart: number;
  rowCount: number;
}

/**
 * Splits `rows` into consecutive ranges whose `blocks` and `scales` each fit in `maxBytes`
 * (the device's maxStorageBufferBindingSize), as evenly as possible. One range when it all fits.
 */
export function splitRows(type: number, rows: number, k: number, maxBytes: number): RowRange[] {
  const rb = repackedRowBytes(type, k);
  const perRow = Math.max(rb.blocks, rb.scales);
  const maxRows = Math.floor(maxBytes / perRow);
  if (maxRows < 1) throw new RangeError(`splitRows: one ${typeName(type)} row of ${k} (${perRow} B) exceeds ${maxBytes} B`);
  const parts = Math.ceil(rows / maxRows);
  const base = Math.floor(rows / parts);
  const extra = rows % parts;
  const out: RowRange[] = [];
  for (let i = 0, r = 0; i < parts; i++) {
    const rowCount = base + (i < extra ? 1 : 0);
    out.push({ rowStart: r, rowCount });
    r += rowCount;
  }
  return out;
}
