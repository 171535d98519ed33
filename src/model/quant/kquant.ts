/**
 * Shared parts of Q4_K and Q5_K: the 12-byte packing of eight 6-bit (scale, min) pairs and the
 * reference quantizer (quantize_row_q{4,5}_K_ref) up to the point where the quants are packed.
 *
 * Super-block: 256 elements = 8 sub-blocks of 32. Sub-block j decodes as
 *   y = (d * sc_j) * q - (dmin * m_j),   d, dmin f16; sc_j, m_j 6-bit; q in [0, nmax].
 * Header bytes: [0,2) f16 d, [2,4) f16 dmin, [4,16) scales[12].
 */
import { fr, nearestInt, prepareDequant, putU16 } from './common.ts';
import type { BlockFormat } from './common.ts';
import { f16Table, f16ToF32, f32ToF16 } from './f16.ts';

export const QK_K = 256;

/**
 * get_scale_min_k4 on scales[12] at q[o..o+12): returns sc | (m << 8).
 * j < 4: low 6 bits of bytes j (scale) and j+4 (min).
 * j >= 4: low/high nibble of byte j+4 plus the top 2 bits of bytes j-4 (scale) and j (min).
 */
export function getScaleMinK4(j: number, q: Uint8Array, o: number): number {
  if (j < 4) return (q[o + j] & 63) | ((q[o + j + 4] & 63) << 8);
  const sc = (q[o + j + 4] & 0xf) | ((q[o + j - 4] >> 6) << 4);
  const m = (q[o + j + 4] >> 4) | ((q[o + j] >> 6) << 4);
  return sc | (m << 8);
}

/**
 * Writes the 64 outputs y[p..p+64) of group g (sub-blocks 2g and 2g+1) of the super-block at
 * src[o..], given s = [d*sc(2g), dmin*m(2g), d*sc(2g+1), dmin*m(2g+1)].
 */
export type KGroupDecoder = (y: Float32Array, p: number, o: number, g: number, s: Float32Array) => void;

/**
 * Q4_K / Q5_K dequantization: every group of every super-block in order, with its scales.
 * d*sc and dmin*m are exact in f32 (at most 11 + 6 significand bits); the decoder rounds the rest.
 */
export function dequantizeKGroups(fmt: BlockFormat, src: Uint8Array, n: number, out: Float32Array | undefined, group: KGroupDecoder): Float32Array {
  const y = prepareDequant(fmt, src, n, out);
  const f16 = f16Table();
  const s = new Float32Array(4);
  for (let o = 0, p = 0; p < n; o += fmt.typeSize) {
    const d = f16[src[o] | (src[o + 1] << 8)];
    const dmin = f16[src[o + 2] | (src[o + 3] << 8)];
    for (let g = 0; g < 4; g++, p += 64) {
      const sm1 = getScaleMinK4(2 * g, src, o + 4);
      const sm2 = getScaleMinK4(2 * g + 1, src, o + 4);
      s[0] = d * (sm1 & 0xff);
      s[1] = dmin * (sm1 >> 8);
      s[2] = d * (sm2 & 0xff);
      s[3] = dmin * (sm2 >> 8);
      group(y, p, o, g, s);
    }
  }
  return y;
}

/** Inverse of getScaleMinK4 for sub-block j (bytes must start zeroed); ls, lm in [0, 63]. */
export function putScaleMinK4(j: number, ls: number, lm: number, q: Uint8Array, o: number): void {
  if (j < 4) {
    q[o + j] = ls;
    q[o + j + 4] = lm;
  } else {
    q[o + j + 4] = (ls & 0xf) | ((lm & 0xf) << 4);
    q[o + j - 4] |= (ls >> 4) << 6;
    q[o + j] |= (lm >> 4) << 6;
  }
}

/**
 * make_qkx2_quants: fit x[xo..xo+n) ~ scale * L - theMin with L in [0, nmax] by weighted least
 * squares over nstep+1 trial inverse scales (rmin + rdelta*is + nmax) / (max - min).
 * Writes L[lo..lo+n); returns [scale, theMin] (theMin >= 0). f32 arithmetic as in C.
 */
function makeQkx2Quants(
  n: number, nmax: number, x: Float32Array, xo: number, w: Float32Array,
  L: Uint8Array, lo: number, Laux: Uint8Array, rmin: number, rdelta: number, nstep: number,
): [number, number] {
  let min = x[xo];
  let max = x[xo];
  let sumW = w[0];
  let sumX = fr(sumW * x[xo]);
  for (let i = 1; i < n; i++) {
    const v = x[xo + i];
    if (v < min) min = v;
    if (v > max) max = v;
    sumW = fr(sumW + w[i]);
    sumX = fr(sumX + fr(w[i] * v));
  }
  if (min > 0) min = 0;
  if (max === min) {
    L.fill(0, lo, lo + n);
    return [0, -min];
  }
  let iscale = fr(nmax / fr(max - min));
  let scale = fr(1 / iscale);
  let bestError = 0;
  for (let i = 0; i < n; i++) {
    const l = Math.max(0, Math.min(nmax, nearestInt(fr(iscale * fr(x[xo + i] - min)))));
    L[lo + i] = l;
    const diff = fr(fr(fr(scale * l) + min) - x[xo + i]);
    bestError = fr(bestError + fr(w[i] * fr(diff * diff)));
  }
  if (nstep < 1) return [scale, -min];
  for (let is = 0; is <= nstep; is++) {
    // `min` is the best fit so far (as in C): later trials start from it. rdelta is a C float.
    iscale = fr(fr(fr(rmin + fr(fr(rdelta) * is)) + nmax) / fr(max - min));
    let sumL = 0;
    let sumL2 = 0;
    let sumXL = 0;
    for (let i = 0; i < n; i++) {
      const l = Math.max(0, Math.min(nmax, nearestInt(fr(iscale * fr(x[xo + i] - min)))));
      Laux[i] = l;
      const wl = fr(w[i] * l);
      sumL = fr(sumL + wl);
      sumL2 = fr(sumL2 + fr(wl * l));
      sumXL = fr(sumXL + fr(wl * x[xo + i]));
    }
    const D = fr(fr(sumW * sumL2) - fr(sumL * sumL));
    if (D > 0) {
      let thisScale = fr(fr(fr(sumW * sumXL) - fr(sumX * sumL)) / D);
      let thisMin = fr(fr(fr(sumL2 * sumX) - fr(sumL * sumXL)) / D);
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = fr(sumXL / sumL2);
      }
      let curError = 0;
      for (let i = 0; i < n; i++) {
        const diff = fr(fr(fr(thisScale * Laux[i]) + thisMin) - x[xo + i]);
        curError = fr(curError + fr(w[i] * fr(diff * diff)));
      }
      if (curError < bestError) {
        for (let i = 0; i < n; i++) L[lo + i] = Laux[i];
        bestError = curError;
        scale = thisScale;
        min = thisMin;
      }
    }
  }
  return [scale, -min];
}

/** Search parameters of make_qkx2_quants per format (from quantize_row_q{4,5}_K_ref). */
export interface KSearch {
  nmax: number;
  rmin: number;
  rdelta: number;
  nstep: number;
}

/**
 * Quantize one 256-element super-block x[xb..xb+256) the quantize_row_q{4,5}_K_ref way:
 * per sub-block scale/min fit, then 6-bit quantization of scales and mins against the block's
 * largest ones, then re-quantization of every element with the final (f16 * 6-bit) scale/min.
 * Writes d, dmin and scales[12] at dst[o..o+16) (must be zeroed) and the levels into L[256].
 */
export function quantizeKHeader(x: Float32Array, xb: number, s: KSearch, dst: Uint8Array, o: number, L: Uint8Array): void {
  const scales = new Float32Array(8);
  const mins = new Float32Array(8);
  const weights = new Float32Array(32);
  const Laux = new Uint8Array(32);
  let maxScale = 0;
  let maxMin = 0;
  for (let j = 0; j < 8; j++) {
    const xo = xb + 32 * j;
    let sumX2 = 0;
    for (let l = 0; l < 32; l++) sumX2 = fr(sumX2 + fr(x[xo + l] * x[xo + l]));
    const avX = fr(Math.sqrt(fr(sumX2 / 32)));
    for (let l = 0; l < 32; l++) weights[l] = fr(avX + Math.abs(x[xo + l]));
    const [scale, min] = makeQkx2Quants(32, s.nmax, x, xo, weights, L, 32 * j, Laux, s.rmin, s.rdelta, s.nstep);
    scales[j] = scale;
    mins[j] = min;
    if (scale > maxScale) maxScale = scale;
    if (min > maxMin) maxMin = min;
  }
  const invScale = maxScale > 0 ? fr(63 / maxScale) : 0;
  const invMin = maxMin > 0 ? fr(63 / maxMin) : 0;
  for (let j = 0; j < 8; j++) {
    // C stores nearest_int into uint8_t before MIN(63, .): keep the same wrap.
    const ls = Math.min(63, nearestInt(fr(invScale * scales[j])) & 0xff);
    const lm = Math.min(63, nearestInt(fr(invMin * mins[j])) & 0xff);
    putScaleMinK4(j, ls, lm, dst, o + 4);
  }
  const dBits = f32ToF16(fr(maxScale / 63));
  const mBits = f32ToF16(fr(maxMin / 63));
  putU16(dst, o, dBits);
  putU16(dst, o + 2, mBits);
  const d16 = f16ToF32(dBits);
  const m16 = f16ToF32(mBits);
  for (let j = 0; j < 8; j++) {
    const sm = getScaleMinK4(j, dst, o + 4);
    const d = fr(d16 * (sm & 0xff));
    if (!d) continue; // keeps the levels of the fit, as the reference does
    const dm = fr(m16 * (sm >> 8));
    for (let ii = 0; ii < 32; ii++) {
      const l = nearestInt(fr(fr(x[xb + 32 * j + ii] + dm) / d));
      L[32 * j + ii] = Math.max(0, Math.min(s.nmax, l));
    }
  }
}
