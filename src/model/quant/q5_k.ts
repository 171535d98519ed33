/**
 * Q5_K: 256 elements per 176-byte super-block =
 *   f16 d, f16 dmin, u8 scales[12] (as Q4_K), u8 qh[32] at 16, u8 qs[128] at 48.
 * Group g (0..3): low nibbles of qs[32g+l] plus bit 2g of qh[l] -> sub-block 2g,
 * high nibbles plus bit 2g+1 of qh[l] -> sub-block 2g+1. qh is indexed by l only.
 */
import { blockCount, fr, prepareDequant } from './common.ts';
import type { BlockFormat } from './common.ts';
import { f16Table } from './f16.ts';
import { QK_K, getScaleMinK4, quantizeKHeader } from './kquant.ts';

export const Q5_K: BlockFormat = { name: 'Q5_K', blockSize: QK_K, typeSize: 176 };

/** Bit-exact dequantize_row_q5_K (products exact in f32: at most 11+6+5 bits; one rounding). */
export function dequantizeQ5_K(src: Uint8Array, n: number, out?: Float32Array): Float32Array {
  const y = prepareDequant(Q5_K, src, n, out);
  const f16 = f16Table();
  const nb = n / QK_K;
  for (let i = 0, o = 0, p = 0; i < nb; i++, o += 176) {
    const d = f16[src[o] | (src[o + 1] << 8)];
    const dmin = f16[src[o + 2] | (src[o + 3] << 8)];
    const qh = o + 16;
    for (let g = 0; g < 4; g++) {
      const sm1 = getScaleMinK4(2 * g, src, o + 4);
      const sm2 = getScaleMinK4(2 * g + 1, src, o + 4);
      const d1 = fr(d * (sm1 & 0xff));
      const m1 = fr(dmin * (sm1 >> 8));
      const d2 = fr(d * (sm2 & 0xff));
      const m2 = fr(dmin * (sm2 >> 8));
      const u1 = 1 << (2 * g);
      const u2 = 2 << (2 * g);
      const ql = o + 48 + 32 * g;
      for (let l = 0; l < 32; l++) y[p + l] = fr(d1 * ((src[ql + l] & 0xf) + (src[qh + l] & u1 ? 16 : 0))) - m1;
      p += 32;
      for (let l = 0; l < 32; l++) y[p + l] = fr(d2 * ((src[ql + l] >> 4) + (src[qh + l] & u2 ? 16 : 0))) - m2;
      p += 32;
    }
  }
  return y;
}

/** quantize_row_q5_K_ref (make_qkx2_quants with nmax 31, rmin -0.5, rdelta 0.1, 15 steps). */
export function quantizeQ5_K(x: Float32Array): Uint8Array {
  const nb = blockCount(Q5_K, x);
  const dst = new Uint8Array(nb * 176);
  const L = new Uint8Array(QK_K);
  for (let i = 0; i < nb; i++) {
    const o = i * 176;
    quantizeKHeader(x, i * QK_K, { nmax: 31, rmin: -0.5, rdelta: 0.1, nstep: 15 }, dst, o, L);
    for (let g = 0; g < 4; g++) {
      const u1 = 1 << (2 * g);
      const u2 = 2 << (2 * g);
      for (let l = 0; l < 32; l++) {
        let l1 = L[64 * g + l];
        let l2 = L[64 * g + 32 + l];
        if (l1 > 15) {
          l1 -= 16;
          dst[o + 16 + l] |= u1;
        }
        if (l2 > 15) {
          l2 -= 16;
          dst[o + 16 + l] |= u2;
        }
        dst[o + 48 + 32 * g + l] = l1 | (l2 << 4);
      }
    }
  }
  return dst;
}
