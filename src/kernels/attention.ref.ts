/**
 * CPU reference for attention (shaders/attention_*.wgsl), in f64.
 * q [M, nHeads*headDim] at positions pos0 .. pos0+M-1; k, v [nKvHeads, kvLen, headDim] hold
 * the cache's values (already f16, as the GPU reads them), kvLen >= pos0 + M.
 * att[m, h] = sum_j softmax_j(scale q_mh . k_j) v_j over the keys j head h at pos sees: j <= pos,
 * pos - j < window (when window > 0), and keyVisible (the block-sparse pattern, when shape.sparse
 * is set). scale = shape.scale, default 1/sqrt(headDim).
 */
import { keyVisible, type AttentionShape } from './attention.ts';

export function attentionRef(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  kvLen: number,
  M: number,
  pos0: number,
  shape: Pick<AttentionShape, 'nHeads' | 'nKvHeads' | 'headDim' | 'window' | 'scale' | 'sparse'>,
): Float64Array {
  const { nHeads, nKvHeads, headDim, window, sparse } = shape;
  const group = nHeads / nKvHeads;
  const scale = shape.scale ?? 1 / Math.sqrt(headDim);
  const att = new Float64Array(M * nHeads * headDim);
  const s = new Float64Array(kvLen);
  for (let m = 0; m < M; m++) {
    const pos = pos0 + m;
    const lo = window === 0 ? 0 : Math.max(0, pos - window + 1);
    for (let h = 0; h < nHeads; h++) {
      const qo = (m * nHeads + h) * headDim;
      const kvo = Math.floor(h / group) * kvLen * headDim;
      const seen: number[] = [];
      for (let j = lo; j <= pos; j++) if (keyVisible(sparse, h, pos, j)) seen.push(j);
      let max = -Infinity;
      for (const j of seen) {
        let dot = 0;
        for (let d = 0; d < headDim; d++) dot += q[qo + d] * k[kvo + j * headDim + d];
        s[j] = dot * scale;
        max = Math.max(max, s[j]);
      }
      let sum = 0;
      for (const j of seen) sum += (s[j] = Math.exp(s[j] - max));
      for (const j of seen) {
        const p = s[j] / sum;
        for (let d = 0; d < headDim; d++) att[qo + d] += p * v[kvo + j * headDim + d];
      }
    }
  }
  return att;
}
