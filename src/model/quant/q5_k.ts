/**
 * Q5_K: 256 elements per 176-byte super-block =
 *   f16 d, f16 dmin, u8 scales[12] (as Q4_K), u8 qh[32] at 16, u8 qs[128] at 48.
 * Group g (0..3): low nibbles of qs[32g+l] plus bit 2g of qh[l] -> sub-block 2g,
 * high nibbles plus bit 2g+1 of qh[l] -> sub-block 2g+1. qh is indexed by l only.
 */
import { blockCount, fr } from './common.ts';
import type { BlockFormat } from './common.ts';
import { QK_K, dequantizeKGroups, quantizeKHeader } from './kquant.ts';

export const Q5_K: BlockFormat = { name: 'Q5_K', blockSize: QK_K, typeSize: 176 };

/** Bit-exact dequantize_row_q5_K (products exact in f32: at most 11+6+5 bits; one rounding). */
export function dequantizeQ5_K(src: Uint8Array, n: number, out?: Float32Array): Float32Array {
  return dequantizeKGroups(Q5_K, src, n, out, (y, p, o, g, s) => {
    const qh = o + 16;
    const ql = o + 48 + 32 * g;
    const u1 = 1 << (2 * g);
    const u2 = 2 << (2 * g);
    for (let l = 0; l < 32; l++) y[p + l] = fr(s[0] * ((src[ql + l] & 0xf) + (src[qh + l] & u1 ? 16 : 0))) - s[1];
    for (let l = 0; l < 32; l++) y[p + 32 + l] = fr(s[2] * ((src[ql + l] >> 4) + (src[qh + l] & u2 ? 16 : 0))) - s[3];
  });
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
