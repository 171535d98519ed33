/**
 * What the attention tests share (attention.test.ts, matvec-merge.test.ts): random inputs, the
 * cache as the kernels read it, and the error bound of the GPU's attention against
 * attention.ref.ts.
 */
import { kvRowWords, packKvCache, packKvCacheQ8, roundQ8, unpackKvCache, unpackKvCacheQ8 } from './kv-cache.ref.ts';
import type { KvCacheType as KvType } from './kv-layout.ts';
import { keyVisible, windowStart, type AttentionShape } from './attention.ts';
import { Rng } from '../util/rng.ts';

// Tolerance, per (row, head), from f32 arithmetic. K and V are f16 in the cache and the
// reference reads the very same f16 values, so only the GPU's f32 work differs (u = 2^-24):
//   scores: q*scale rounds once, the HD-term dot product accumulates <= HD ulps:
//       |ds| <= (HD + 2) u S,   S = max_j scale * sum_d |q_d k_jd|
//   exp: WGSL allows 3 + 2|x| ulp at x = s - max, |x| <= R = spread of the row's scores,
//       so every weight is off by a relative (HD + 2) u S + (3 + 2R) u =: delta;
//       perturbing the weights by a relative delta moves a weighted average by <= 2 delta max|v|;
//   sums: sum p v and sum p run over the n visible keys (fewer than pos - lo + 1 under a
//       block-sparse pattern: the invisible ones are never added), plus rescaling steps (tiles,
//       chunks, merge): <= (n + 64) u max|v| each, with the final division 2 ulp more.
//   tol = max|v| (2 delta + 2 (n + 64) u + 4 u).
// Measured errors are 200x or more below it; a wrong mask (one key too many or too few) moves the result
// by ~max|v|/n, which the small-window and fixed cases of attention.test.ts make far larger than tol.
// A q8_0 cache (kvType 'q8_0') is read as q * d, exact in f32: the reference gets those very
// values (roundQ8), and every pass computes with them exactly as with f16 values, so the same
// bound holds.
export const U = 2 ** -24;
export const F16_NAN = 0x7e00;
export const NAN_WORD = (F16_NAN | (F16_NAN << 16)) >>> 0;

/**
 * Values [nKvHeads][len][headDim] as a cache of kvType [nKvHeads][maxCtx][row], rows len .. maxCtx-1
 * all NaN words (in q8_0 a NaN scale, so every value of such a row reads NaN).
 */
export function packCache(values: ArrayLike<number>, nKvHeads: number, len: number, headDim: number, maxCtx: number, kvType: KvType): Uint32Array {
  if (kvType === 'f16') return packKvCache(values, nKvHeads, len, headDim, maxCtx, NAN_WORD);
  const words = packKvCacheQ8(values, nKvHeads, len, headDim, maxCtx);
  const row = kvRowWords(headDim, 'q8_0');
  for (let h = 0; h < nKvHeads; h++) words.fill(NAN_WORD, (h * maxCtx + len) * row, (h + 1) * maxCtx * row);
  return words;
}

export function unpackCache(cache: Uint32Array, nKvHeads: number, maxCtx: number, headDim: number, len: number, kvType: KvType): Float32Array {
  return kvType === 'f16' ? unpackKvCache(cache, nKvHeads, maxCtx, headDim, 0, len) : unpackKvCacheQ8(cache, nKvHeads, maxCtx, headDim, 0, len);
}

export const cacheBytes = (nKvHeads: number, headDim: number, maxCtx: number, kvType: KvType) => nKvHeads * maxCtx * kvRowWords(headDim, kvType) * 4;

export interface Inputs {
  shape: AttentionShape;
  pos0: number;
  M: number;
  /** [M, nHeads*headDim] */
  q: Float32Array;
  /** [nKvHeads, kvLen, headDim], f16 values; kvLen = pos0 + M. */
  k: Float32Array;
  v: Float32Array;
}

export function makeInputs(shape: AttentionShape, pos0: number, M: number, seed: number, qScale = 1, kvType: KvType = 'f16'): Inputs {
  const rng = new Rng(seed);
  const { nHeads, nKvHeads, headDim } = shape;
  const kvLen = pos0 + M;
  const q = rng.fill(M * nHeads * headDim, -1.5 * qScale, 1.5 * qScale);
  // Multiples of 2^-10 below 2 in magnitude are exact in f16: no rounding step needed.
  const grid = (n: number, max: number) => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = rng.int(-max * 1024, max * 1024) / 1024;
    return a;
  };
  const k = grid(nKvHeads * kvLen * headDim, 1.5);
  const v = grid(nKvHeads * kvLen * headDim, 1);
  // q8_0: the values the cache reads back (blocks of 32 lie within rows: headDim % 32 == 0).
  if (kvType === 'q8_0') return { shape, pos0, M, q, k: roundQ8(k), v: roundQ8(v) };
  return { shape, pos0, M, q, k, v };
}

/** Cache words with every slot no row may read (before the first window, after kvLen) set to NaN. */
export function cacheWords(values: Float32Array, inp: Inputs, kvType: KvType = 'f16'): Uint32Array {
  const { nKvHeads, headDim, maxCtx, window } = inp.shape;
  const kvLen = inp.pos0 + inp.M;
  const words = packCache(values, nKvHeads, kvLen, headDim, maxCtx, kvType);
  const lo = windowStart(inp.pos0, window);
  const row = kvRowWords(headDim, kvType);
  for (let h = 0; h < nKvHeads; h++) words.fill(NAN_WORD, h * maxCtx * row, (h * maxCtx + lo) * row);
  return words;
}

/**
 * What the bounds of row m, head h depend on: its visible keys (those in [lo, pos] that keyVisible
 * lets through: n of them, in `seen`), S = max_j scale sum_d |q_d k_jd|, the largest and smallest
 * score, and max |v| over those keys; scale is the shape's (default 1/sqrt(headDim)).
 */
export function rowStats(inp: Inputs, m: number, h: number) {
  const { nHeads, nKvHeads, headDim, window } = inp.shape;
  const kvLen = inp.pos0 + inp.M;
  const scale = inp.shape.scale ?? 1 / Math.sqrt(headDim);
  const pos = inp.pos0 + m;
  const lo = windowStart(pos, window);
  const kvo = Math.floor(h / (nHeads / nKvHeads)) * kvLen * headDim;
  const qo = (m * nHeads + h) * headDim;
  let S = 0;
  let smax = -Infinity;
  let smin = Infinity;
  let vmax = 0;
  const seen: number[] = [];
  for (let j = lo; j <= pos; j++) if (keyVisible(inp.shape.sparse, h, pos, j)) seen.push(j);
  for (const j of seen) {
    let abs = 0;
    let s = 0;
    for (let d = 0; d < headDim; d++) {
      const qk = inp.q[qo + d] * inp.k[kvo + j * headDim + d];
      abs += Math.abs(qk);
      s += qk;
      vmax = Math.max(vmax, Math.abs(inp.v[kvo + j * headDim + d]));
    }
    S = Math.max(S, abs * scale);
    smax = Math.max(smax, s * scale);
    smin = Math.min(smin, s * scale);
  }
  return { pos, lo, S, smax, smin, vmax, n: seen.length, seen };
}

/** The bound above, per (m, h). */
export function tolerance(inp: Inputs): Float64Array {
  const { nHeads, headDim } = inp.shape;
  const tol = new Float64Array(inp.M * nHeads);
  for (let m = 0; m < inp.M; m++) {
    for (let h = 0; h < nHeads; h++) {
      const { S, smax, smin, vmax, n } = rowStats(inp, m, h);
      const delta = (headDim + 2) * U * S + (3 + 2 * (smax - smin)) * U;
      tol[m * nHeads + h] = vmax * (2 * delta + 2 * (n + 64) * U + 4 * U);
    }
  }
  return tol;
}

/** u16 = 2^-11, the unit roundoff of f16. */
export const U16 = 2 ** -11;

/** Tiles of tileK keys (aligned to multiples of it) from a row's first visible key to its last. */
export function rescalings(seen: number[], tileK: number): number {
  return seen.length === 0 ? 0 : Math.floor(seen[seen.length - 1] / tileK) - Math.floor(seen[0] / tileK) + 1;
}

// Tolerance of the 'rows-f16' prefill (attention_prefill_f16.wgsl) against attention.ref.ts, per
// (row, head); u = 2^-24 (f32), u16 = 2^-11 (f16). K and V are f16 in the cache
// and the reference reads the same values, so only the GPU's rounding differs:
//   scores: q * scale rounds in f32 then to f16, each f16 pair product and the pair's sum round
//     in f16 (3 u16 + u relative to the pair's sum of |q k|, to first order), the HD/2 pair
//     sums add in f32 (<= HD/2 u); where a value falls below f16's normal range (2^-14) a
//     rounding is off by <= 2^-25 absolute instead, at most 3 per pair, times |k| < 2:
//       |ds| <= (3 u16 + (HD/2 + 2) u) S + 3 HD 2^-25,   S as in `tolerance` above;
//   weights: the exp of each score as before, and per tile of BK keys one rescaling exp(m - m')
//     off by (3 + 2|m - m'|) ulp, T tiles from the row's first visible key to its last (at most
//     ceil(n / BK) + 1 when they are contiguous; tiles before the first hold nothing to rescale,
//     and after the last m' = m), sum |m - m'| <= R:
//       delta16 = |ds| + (3 + 2R) u + (3T + 2R) u;
//   sum p v: p rounded to f16 and the f16 product p v: relative 2 u16 per term (<= 2 u16 max|v|
//     of the average), or 2^-24 absolute per term below f16's normal range (n terms over a sum
//     of weights >= 1, the max key's weight being 1); the f32 sums as in `tolerance`:
//   tol16 = max|v| (2 delta16 + 2 (n + 64) u + 4 u + 2 u16) + n 2^-24.
// A wrong mask moves the output by ~max|v| / n: the window-of-1 and small-window cases of
// attention.test.ts make that far larger than tol16 (exact results where one weight is 1 and the rest are 0).
// A q8_0 cache (q8 true): the tiles hold q * d rounded to f16, which the reference does not
// (it reads q * d exactly): each k and v is off by <= u16/2 relative, or 2^-25 absolute below
// f16's normal range. Scores move by <= u16/2 S + HD 2^-25 max|q scale|, the average of v by
// <= u16/2 max|v| + 2^-25: added to ds and to the last term.
export function tolerance16(inp: Inputs, tileK: number, q8 = false): Float64Array {
  const { nHeads, headDim } = inp.shape;
  const scale = inp.shape.scale ?? 1 / Math.sqrt(headDim);
  let qmax = 0;
  for (const x of inp.q) qmax = Math.max(qmax, Math.abs(x) * scale);
  const tol = new Float64Array(inp.M * nHeads);
  for (let m = 0; m < inp.M; m++) {
    for (let h = 0; h < nHeads; h++) {
      const { S, smax, smin, vmax, n, seen } = rowStats(inp, m, h);
      const R = smax - smin;
      const T = rescalings(seen, tileK);
      const ds = (3 * U16 + (headDim / 2 + 2) * U) * S + 3 * headDim * 2 ** -25 + (q8 ? (U16 / 2) * S + headDim * 2 ** -25 * qmax : 0);
      const delta16 = ds + (3 + 2 * R) * U + (3 * T + 2 * R) * U;
      tol[m * nHeads + h] = vmax * (2 * delta16 + 2 * (n + 64) * U + 4 * U + 2 * U16 + (q8 ? U16 / 2 : 0)) + n * 2 ** -24 + (q8 ? 2 ** -25 : 0);
    }
  }
  return tol;
}

