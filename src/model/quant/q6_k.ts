/**
 * Q6_K: 256 elements per 210-byte super-block =
 *   u8 ql[128] at 0, u8 qh[64] at 128, i8 scales[16] at 192, f16 d at 208.
 * 16 sub-blocks of 16; y = (d * sc) * (q - 32) with q 6-bit: 4 low bits from ql, 2 from qh.
 * Half h (0..1) covers outputs [128h, 128h+128) from ql[64h..], qh[32h..], scales[8h..].
 */
import { blockCount, fr, nearestInt, prepareDequant, putU16 } from './common.ts';
import type { BlockFormat } from './common.ts';
import { f16Table, f16ToF32, f32ToF16 } from './f16.ts';
import { QK_K } from './kquant.ts';

export const Q6_K: BlockFormat = { name: 'Q6_K', blockSize: QK_K, typeSize: 210 };

/** GROUP_MAX_EPS of ggml-quants.c (a float literal). */
const GROUP_MAX_EPS = Math.fround(1e-15);

/** Bit-exact dequantize_row_q6_K: d * sc[is] * q evaluated as (d * sc) * q in f32. */
export function dequantizeQ6_K(src: Uint8Array, n: number, out?: Float32Array): Float32Array {
  const y = prepareDequant(Q6_K, src, n, out);
  const f16 = f16Table();
  const nb = n / QK_K;
  for (let i = 0, o = 0; i < nb; i++, o += 210) {
    const d = f16[src[o + 208] | (src[o + 209] << 8)];
    for (let h = 0; h < 2; h++) {
      const ql = o + 64 * h;
      const qh = o + 128 + 32 * h;
      const sc = o + 192 + 8 * h;
      const p = i * QK_K + 128 * h;
      for (let l = 0; l < 32; l++) {
        const is = l >> 4;
        const a = src[ql + l];
        const b = src[ql + l + 32];
        const hb = src[qh + l];
        const q1 = ((a & 0xf) | ((hb & 3) << 4)) - 32;
        const q2 = ((b & 0xf) | (((hb >> 2) & 3) << 4)) - 32;
        const q3 = ((a >> 4) | (((hb >> 4) & 3) << 4)) - 32;
        const q4 = ((b >> 4) | (((hb >> 6) & 3) << 4)) - 32;
        y[p + l] = fr(d * ((src[sc + is] << 24) >> 24)) * q1;
        y[p + l + 32] = fr(d * ((src[sc + is + 2] << 24) >> 24)) * q2;
        y[p + l + 64] = fr(d * ((src[sc + is + 4] << 24) >> 24)) * q3;
        y[p + l + 96] = fr(d * ((src[sc + is + 6] << 24) >> 24)) * q4;
      }
    }
  }
  return y;
}

/**
 * make_qx_quants with rmse_type 1 (weights x^2), no importance weights: symmetric fit
 * x ~ scale * (L - nmax), L in [0, 2*nmax), trying 19 inverse scales -(nmax + 0.1*is)/max.
 * Writes L[lo..lo+n); returns scale (may be negative: the extreme element maps to -nmax).
 */
function makeQxQuants(n: number, nmax: number, x: Float32Array, xo: number, L: Uint8Array, lo: number): number {
  let max = 0;
  let amax = 0;
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[xo + i]);
    if (ax > amax) {
      amax = ax;
      max = x[xo + i];
    }
  }
  if (amax < GROUP_MAX_EPS) {
    L.fill(0, lo, lo + n);
    return 0;
  }
  const level = (iscale: number, v: number): number => Math.max(-nmax, Math.min(nmax - 1, nearestInt(fr(iscale * v))));
  let iscale = fr(-nmax / max);
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < n; i++) {
    const v = x[xo + i];
    const l = level(iscale, v);
    L[lo + i] = l + nmax;
    const w = fr(v * v);
    sumlx = fr(sumlx + fr(fr(w * v) * l));
    suml2 = fr(suml2 + fr(fr(w * l) * l));
  }
  let scale = suml2 ? fr(sumlx / suml2) : 0;
  let best = fr(scale * sumlx);
  const tenth = fr(0.1);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    iscale = fr(-fr(nmax + fr(tenth * is)) / max);
    sumlx = 0;
    suml2 = 0;
    for (let i = 0; i < n; i++) {
      const v = x[xo + i];
      const l = level(iscale, v);
      const w = fr(v * v);
      sumlx = fr(sumlx + fr(fr(w * v) * l));
      suml2 = fr(suml2 + fr(fr(w * l) * l));
    }
    if (suml2 > 0 && fr(sumlx * sumlx) > fr(best * suml2)) {
      for (let i = 0; i < n; i++) L[lo + i] = nmax + level(iscale, x[xo + i]);
      scale = fr(sumlx / suml2);
      best = fr(scale * sumlx);
    }
  }
  return scale;
}

/**
 * quantize_row_q6_K_ref: per 16-element sub-block make_qx_quants(nmax 32), then the sub-block
 * scales are quantized to i8 against the largest-magnitude one (which maps to -128), and every
 * element is re-quantized with its final scale f16(d) * i8.
 */
export function quantizeQ6_K(x: Float32Array): Uint8Array {
  const nb = blockCount(Q6_K, x);
  const dst = new Uint8Array(nb * 210);
  const L = new Uint8Array(QK_K);
  const scales = new Float32Array(16);
  for (let i = 0; i < nb; i++) {
    const xb = i * QK_K;
    const o = i * 210;
    let maxScale = 0;
    let maxAbsScale = 0;
    for (let ib = 0; ib < 16; ib++) {
      const scale = makeQxQuants(16, 32, x, xb + 16 * ib, L, 16 * ib);
      scales[ib] = scale;
      if (Math.abs(scale) > maxAbsScale) {
        maxAbsScale = Math.abs(scale);
        maxScale = scale;
      }
    }
    if (maxAbsScale < GROUP_MAX_EPS) continue; // all-zero block: every byte 0 (d = +0)
    const iscale = fr(-128 / maxScale);
    const dBits = f32ToF16(fr(1 / iscale));
    putU16(dst, o + 208, dBits);
    const d16 = f16ToF32(dBits);
    for (let ib = 0; ib < 16; ib++) {
      const s = Math.min(127, nearestInt(fr(iscale * scales[ib])));
      dst[o + 192 + ib] = s & 0xff;
      const d = fr(d16 * ((s << 24) >> 24));
      if (!d) continue;
      for (let ii = 0; ii < 16; ii++) {
        const l = nearestInt(fr(x[xb + 16 * ib + ii] / d));
        L[16 * ib + ii] = Math.max(-32, Math.min(31, l)) + 32;
      }
    }
    for (let h = 0; h < 2; h++) {
      const ql = o + 64 * h;
      const qh = o + 128 + 32 * h;
      const Lh = 128 * h;
      for (let l = 0; l < 32; l++) {
        const a = L[Lh + l];
        const b = L[Lh + l + 32];
        const c = L[Lh + l + 64];
        const e = L[Lh + l + 96];
        dst[ql + l] = (a & 0xf) | ((c & 0xf) << 4);
        dst[ql + l + 32] = (b & 0xf) | ((e & 0xf) << 4);
        dst[qh + l] = (a >> 4) | ((b >> 4) << 2) | ((c >> 4) << 4) | ((e >> 4) << 6);
      }
    }
  }
  return dst;
}
