/**
 * CPU reference for RoPE + KV append (shaders/rope_kv.wgsl), in f64.
 *
 * Angles follow llama.cpp's ggml_rope_cache_init: theta_0 = pos, theta_{i+1} = theta_i * thetaScale,
 * then theta_i / factors[i]. `angles: 'f64'` does that iteration in f64 with the exact
 * thetaScale = base^(-2/ropeDim) (the ideal the GPU's f32 is measured against);
 * `angles: 'f32'` rounds every step to f32 exactly as llama.cpp does (then cos/sin in f64), which
 * is what the GPU is built to reproduce.
 */
import type { RopeKvShape, RopeStyle } from './rope_kv.ts';

export interface RopeRefOptions {
  style?: RopeStyle;
  /** [ropeDim/2]; ones when absent. */
  factors?: ArrayLike<number>;
  angles?: 'f64' | 'f32';
}

/** theta_i for i < ropeDim/2 at `pos`. */
export function ropeAngles(pos: number, base: number, ropeDim: number, opts: RopeRefOptions = {}): Float64Array {
  const half = ropeDim / 2;
  const out = new Float64Array(half);
  const f32 = opts.angles === 'f32';
  const r = f32 ? Math.fround : (v: number) => v;
  const scale = f32 ? Math.fround(Math.pow(Math.fround(base), Math.fround(-2 / ropeDim))) : Math.pow(base, -2 / ropeDim);
  let theta = r(pos);
  for (let i = 0; i < half; i++) {
    out[i] = r(theta / (opts.factors ? opts.factors[i] : 1));
    theta = r(theta * scale);
  }
  return out;
}

/** Rotates one head in place: x[off .. off + headDim). */
export function ropeHead(x: Float64Array, off: number, angles: Float64Array, ropeDim: number, attnFactor: number, style: RopeStyle): void {
  const half = ropeDim / 2;
  for (let i = 0; i < half; i++) {
    const c = Math.cos(angles[i]) * attnFactor;
    const s = Math.sin(angles[i]) * attnFactor;
    const a = off + (style === 'neox' ? i : 2 * i);
    const b = style === 'neox' ? a + half : a + 1;
    const xa = x[a];
    const xb = x[b];
    x[a] = xa * c - xb * s;
    x[b] = xa * s + xb * c;
  }
}

export interface RopeKvRefResult {
  /** [M, nHeads * headDim] rotated Q. */
  q: Float64Array;
  /** [nKvHeads, M, headDim] rotated K for positions pos0 .. pos0+M-1 (not rounded to f16). */
  k: Float64Array;
  /** [nKvHeads, M, headDim] V (not rounded). */
  v: Float64Array;
}

/** qkv [M, (nHeads + 2 nKvHeads) * headDim] at positions pos0 .. pos0+M-1. */
export function ropeKvRef(qkv: ArrayLike<number>, M: number, pos0: number, shape: RopeKvShape, opts: RopeRefOptions = {}): RopeKvRefResult {
  const { nHeads, nKvHeads, headDim, ropeDim, base, attnFactor } = shape;
  const style = opts.style ?? 'neox';
  const rowLen = (nHeads + 2 * nKvHeads) * headDim;
  const q = new Float64Array(M * nHeads * headDim);
  const k = new Float64Array(nKvHeads * M * headDim);
  const v = new Float64Array(nKvHeads * M * headDim);
  const head = new Float64Array(headDim);
  for (let m = 0; m < M; m++) {
    const angles = ropeAngles(pos0 + m, base, ropeDim, opts);
    for (let h = 0; h < nHeads + 2 * nKvHeads; h++) {
      for (let d = 0; d < headDim; d++) head[d] = qkv[m * rowLen + h * headDim + d];
      if (h < nHeads + nKvHeads) ropeHead(head, 0, angles, ropeDim, attnFactor, style);
      if (h < nHeads) q.set(head, (m * nHeads + h) * headDim);
      else if (h < nHeads + nKvHeads) k.set(head, ((h - nHeads) * M + m) * headDim);
      else v.set(head, ((h - nHeads - nKvHeads) * M + m) * headDim);
    }
  }
  return { q, k, v };
}
