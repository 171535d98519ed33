/**
 * Q8_0: 32 elements per 34-byte block = f16 d, i8 qs[32]; y[j] = qs[j] * d.
 */
import { blockCount, fr, prepareDequant, putU16, roundf } from './common.ts';
import type { BlockFormat } from './common.ts';
import { f16Table, f32ToF16 } from './f16.ts';

export const Q8_0: BlockFormat = { name: 'Q8_0', blockSize: 32, typeSize: 34 };

/** Bit-exact dequantize_row_q8_0. */
export function dequantizeQ8_0(src: Uint8Array, n: number, out?: Float32Array): Float32Array {
  const y = prepareDequant(Q8_0, src, n, out);
  const f16 = f16Table();
  const nb = n / 32;
  for (let i = 0, o = 0, p = 0; i < nb; i++, o += 34, p += 32) {
    const d = f16[src[o] | (src[o + 1] << 8)];
    for (let j = 0; j < 32; j++) y[p + j] = ((src[o + 2 + j] << 24) >> 24) * d; // i8 * f32: one rounding, on store
  }
  return y;
}

/** quantize_row_q8_0_ref: d = amax/127, q = roundf(x/d). */
export function quantizeQ8_0(x: Float32Array): Uint8Array {
  const nb = blockCount(Q8_0, x);
  const dst = new Uint8Array(nb * 34);
  for (let i = 0; i < nb; i++) {
    const xb = i * 32;
    const o = i * 34;
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[xb + j]));
    const d = fr(amax / 127);
    const id = d ? fr(1 / d) : 0;
    putU16(dst, o, f32ToF16(d));
    for (let j = 0; j < 32; j++) dst[o + 2 + j] = roundf(fr(x[xb + j] * id)) & 0xff;
  }
  return dst;
}
