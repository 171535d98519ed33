/**
 * Q4_K: 256 elements per 144-byte super-block = f16 d, f16 dmin, u8 scales[12], u8 qs[128].
 * Group g (0..3) of 64 outputs uses qs[32g..32g+32): low nibbles are sub-block 2g, high
 * nibbles sub-block 2g+1; y = (d*sc) * q - (dmin*m).
 */
import { blockCount, fr } from './common.ts';
import type { BlockFormat } from './common.ts';
import { QK_K, dequantizeKGroups, quantizeKHeader } from './kquant.ts';

export const Q4_K: BlockFormat = { name: 'Q4_K', blockSize: QK_K, typeSize: 144 };

/**
 * Bit-exact dequantize_row_q4_K. d*sc, dmin*m and (d*sc)*q are exact in f32 (at most
 * 11+6+4 significand bits), so the only rounding is the final subtraction, with or without FMA.
 */
export function dequantizeQ4_K(src: Uint8Array, n: number, out?: Float32Array): Float32Array {
  return dequantizeKGroups(Q4_K, src, n, out, (y, p, o, g, s) => {
    const q = o + 16 + 32 * g;
    for (let l = 0; l < 32; l++) y[p + l] = fr(s[0] * (src[q + l] & 0xf)) - s[1];
    for (let l = 0; l < 32; l++) y[p + 32 + l] = fr(s[2] * (src[q + l] >> 4)) - s[3];
  });
}

/** quantize_row_q4_K_ref (make_qkx2_quants with nmax 15, rmin -1, rdelta 0.1, 20 steps). */
export function quantizeQ4_K(x: Float32Array): Uint8Array {
  const nb = blockCount(Q4_K, x);
  const dst = new Uint8Array(nb * 144);
  const L = new Uint8Array(QK_K);
  for (let i = 0; i < nb; i++) {
    const o = i * 144;
    quantizeKHeader(x, i * QK_K, { nmax: 15, rmin: -1, rdelta: 0.1, nstep: 20 }, dst, o, L);
    for (let g = 0; g < 4; g++) {
      for (let l = 0; l < 32; l++) dst[o + 16 + 32 * g + l] = L[64 * g + l] | (L[64 * g + 32 + l] << 4);
    }
  }
  return dst;
}
