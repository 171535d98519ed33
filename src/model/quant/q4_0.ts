/**
 * Q4_0: 32 elements per 18-byte block = f16 d, u8 qs[16];
 * y[j] = ((qs[j] & 15) - 8) * d, y[j+16] = ((qs[j] >> 4) - 8) * d.
 */
import { blockCount, fr, prepareDequant, putU16 } from './common.ts';
import type { BlockFormat } from './common.ts';
import { f16Table, f32ToF16 } from './f16.ts';

export const Q4_0: BlockFormat = { name: 'Q4_0', blockSize: 32, typeSize: 18 };

/** Bit-exact dequantize_row_q4_0. */
export function dequantizeQ4_0(src: Uint8Array, n: number, out?: Float32Array): Float32Array {
  const y = prepareDequant(Q4_0, src, n, out);
  const f16 = f16Table();
  const nb = n / 32;
  for (let i = 0, o = 0, p = 0; i < nb; i++, o += 18, p += 32) {
    const d = f16[src[o] | (src[o + 1] << 8)];
    for (let j = 0; j < 16; j++) {
      const q = src[o + 2 + j];
      y[p + j] = ((q & 0xf) - 8) * d;
      y[p + j + 16] = ((q >> 4) - 8) * d;
    }
  }
  return y;
}

/**
 * quantize_row_q4_0_ref: the element of largest magnitude, `max` (sign kept), maps to level -8:
 * d = max / -8, q = min(15, trunc(x/d + 8.5)).
 */
export function quantizeQ4_0(x: Float32Array): Uint8Array {
  const nb = blockCount(Q4_0, x);
  const dst = new Uint8Array(nb * 18);
  for (let i = 0; i < nb; i++) {
    const xb = i * 32;
    const o = i * 18;
    let amax = 0;
    let max = 0;
    for (let j = 0; j < 32; j++) {
      const v = x[xb + j];
      if (amax < Math.abs(v)) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = fr(max / -8);
    const id = d ? fr(1 / d) : 0;
    putU16(dst, o, f32ToF16(d));
    for (let j = 0; j < 16; j++) {
      // (int8_t) truncates toward zero; the argument is >= ~0.5 here.
      const q0 = Math.min(15, Math.trunc(fr(fr(x[xb + j] * id) + 8.5)));
      const q1 = Math.min(15, Math.trunc(fr(fr(x[xb + 16 + j] * id) + 8.5)));
      dst[o + 2 + j] = (q0 & 0xf) | ((q1 & 0xf) << 4);
    }
  }
  return dst;
}
