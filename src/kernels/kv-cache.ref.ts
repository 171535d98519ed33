/**
 * CPU side of the KV cache layout, for references and tests: f16 rounding (round to nearest
 * even, as `pack2x16float` does on every driver we run on) and packing to / from the GPU layout
 *   cache[kvHead][pos][headDim/2]  u32 words, element 2w in the low half, 2w+1 in the high half.
 */

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
