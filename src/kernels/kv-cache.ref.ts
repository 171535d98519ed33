/**
 * CPU side of the KV cache layout, for references and tests: f16 rounding (round to nearest
 * even, as `pack2x16float` does on every driver we run on) and packing to / from the GPU layout
 *   cache[kvHead][pos][headDim/2]  u32 words, element 2w in the low half, 2w+1 in the high half.
 */

import { kvRowWords, Q8_BLOCK } from './kv-layout.ts';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** f16 bits of v (first rounded to f32, as the GPU holds it), round to nearest even. */
export function f32ToF16Bits(v: number): number {
  f32[0] = v;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // f16 subnormal: value / 2^-24 = (mant | 2^23) >> (14 - e)
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++; // a carry into the exponent is correct rounding
  return sign | h;
}

export function f16BitsToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

export const roundF16 = (v: number): number => f16BitsToF32(f32ToF16Bits(v));

/** Distance between the two f16 values around |v| (2^-24 for subnormals). */
export function f16Ulp(v: number): number {
  const a = Math.abs(v);
  if (a < 2 ** -14) return 2 ** -24;
  return 2 ** (Math.floor(Math.log2(a)) - 10);
}

/**
 * Packs values [nKvHeads][len][headDim] into a cache [nKvHeads][maxCtx][headDim/2] (positions
 * len .. maxCtx-1 filled with `fill`), rounding each value to f16.
 */
export function packKvCache(values: ArrayLike<number>, nKvHeads: number, len: number, headDim: number, maxCtx: number, fill = 0): Uint32Array {
  const words = headDim / 2;
  const out = new Uint32Array(nKvHeads * maxCtx * words).fill(fill);
  for (let h = 0; h < nKvHeads; h++) {
    for (let p = 0; p < len; p++) {
      for (let w = 0; w < words; w++) {
        const src = (h * len + p) * headDim + 2 * w;
        out[(h * maxCtx + p) * words + w] = (f32ToF16Bits(values[src]) | (f32ToF16Bits(values[src + 1]) << 16)) >>> 0;
      }
    }
  }
  return out;
}

/** Decodes cache positions [from, from + len) to values [nKvHeads][len][headDim]. */
export function unpackKvCache(cache: Uint32Array, nKvHeads: number, maxCtx: number, headDim: number, from: number, len: number): Float32Array {
  const words = headDim / 2;
  const out = new Float32Array(nKvHeads * len * headDim);
  for (let h = 0; h < nKvHeads; h++) {
    for (let p = 0; p < len; p++) {
      for (let w = 0; w < words; w++) {
        const word = cache[(h * maxCtx + from + p) * words + w];
        const dst = (h * len + p) * headDim + 2 * w;
        out[dst] = f16BitsToF32(word & 0xffff);
        out[dst + 1] = f16BitsToF32(word >>> 16);
      }
    }
  }
  return out;
}

/**
 * The q8_0 cache (kvType 'q8_0'): ggml's block of 32 values, d = amax / 127 stored as f16 and
 * q = round(x / d) in int8, rounded half away from zero as llama.cpp's `quantize_row_q8_0_ref`
 * does, all in f32: d = amax / 127, id = 1 / d (0 when d is 0), q = roundf(x * id). A value
 * reads back as q * f16(d). GPU layout, one row of ROW = headDim/4 + ceil(headDim/64) u32 words
 * per (kvHead, pos), rows [kvHead][pos] as in the f16 cache:
 *   words 0 .. headDim/4 - 1       the int8 quants, 4 per word, value 4i + b in byte b
 *   words headDim/4 .. ROW - 1     the block scales as f16 pairs, block 2s in the low half of
 *                                  word s, 2s+1 in the high half (the last high half 0 when
 *                                  headDim/32 is odd)
 * The scales sit in the row of their quants so that one workgroup writes a whole row and no two
 * rows share a word (see src/kernels/DESIGN.md, "The q8_0 KV cache").
 */
export { kvRowWords, Q8_BLOCK };

/** One q8_0 block of x[off .. off+32): the f16 bits of d and the 32 quants, as llama.cpp's reference makes them. */
export function quantizeQ8Block(x: ArrayLike<number>, off: number): { d: number; q: Int8Array } {
  let amax = 0;
  for (let j = 0; j < Q8_BLOCK; j++) amax = Math.max(amax, Math.abs(Math.fround(x[off + j])));
  const d = Math.fround(amax / 127);
  const id = d ? Math.fround(1 / d) : 0;
  const q = new Int8Array(Q8_BLOCK);
  for (let j = 0; j < Q8_BLOCK; j++) {
    const v = Math.fround(Math.fround(x[off + j]) * id);
    q[j] = Math.sign(v) * Math.round(Math.abs(v)); // roundf: half away from zero
  }
  return { d: f32ToF16Bits(d), q };
}

/** x (length a multiple of 32) quantized to q8_0 and read back: q * f16(d), exactly as the GPU dequantizes. */
export function roundQ8(x: ArrayLike<number>): Float32Array {
  const out = new Float32Array(x.length);
  for (let b = 0; b < x.length; b += Q8_BLOCK) {
    const { d, q } = quantizeQ8Block(x, b);
    const df = f16BitsToF32(d);
    for (let j = 0; j < Q8_BLOCK; j++) out[b + j] = q[j] * df;
  }
  return out;
}

/**
 * Quantizes values [nKvHeads][len][headDim] into a q8_0 cache [nKvHeads][maxCtx][ROW] (rows
 * len .. maxCtx-1 left 0).
 */
export function packKvCacheQ8(values: ArrayLike<number>, nKvHeads: number, len: number, headDim: number, maxCtx: number): Uint32Array {
  const row = kvRowWords(headDim, 'q8_0');
  const out = new Uint32Array(nKvHeads * maxCtx * row);
  const bytes = new Uint8Array(out.buffer);
  for (let h = 0; h < nKvHeads; h++) {
    for (let p = 0; p < len; p++) {
      const w0 = (h * maxCtx + p) * row;
      for (let b = 0; b < headDim / Q8_BLOCK; b++) {
        const { d, q } = quantizeQ8Block(values, (h * len + p) * headDim + b * Q8_BLOCK);
        for (let j = 0; j < Q8_BLOCK; j++) bytes[4 * w0 + b * Q8_BLOCK + j] = q[j] & 0xff;
        const sw = w0 + headDim / 4 + (b >> 1);
        out[sw] = (out[sw] | (d << (16 * (b & 1)))) >>> 0;
      }
    }
  }
  return out;
}

/** Reads q8_0 cache positions [from, from + len) back to values [nKvHeads][len][headDim]. */
export function unpackKvCacheQ8(cache: Uint32Array, nKvHeads: number, maxCtx: number, headDim: number, from: number, len: number): Float32Array {
  const row = kvRowWords(headDim, 'q8_0');
  const bytes = new Int8Array(cache.buffer, cache.byteOffset, cache.byteLength);
  const out = new Float32Array(nKvHeads * len * headDim);
  for (let h = 0; h < nKvHeads; h++) {
    for (let p = 0; p < len; p++) {
      const w0 = (h * maxCtx + from + p) * row;
      for (let i = 0; i < headDim; i++) {
        const b = Math.floor(i / Q8_BLOCK);
        const d = f16BitsToF32((cache[w0 + headDim / 4 + (b >> 1)] >>> (16 * (b & 1))) & 0xffff);
        out[(h * len + p) * headDim + i] = bytes[4 * w0 + i] * d;
      }
    }
  }
  return out;
}
