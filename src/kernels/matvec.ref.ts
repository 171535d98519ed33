/**
 * CPU references for the weight kernels, on already-dequantized f32 weights (plain loops,
 * sums in f64). The quant decoding itself is checked against src/model/quant's dequantize.
 */

/** W (rows, k) @ x (k,) -> y (rows,); with y0, y0 + W x (the accumulate mode). */
export function matvecRef(w: Float32Array, x: Float32Array, rows: number, k: number, y0?: Float32Array): Float32Array {
  const y = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = y0 ? y0[r] : 0;
    for (let i = 0; i < k; i++) s += w[r * k + i] * x[i];
    y[r] = s;
  }
  return y;
}

/** X (m, k) @ W (rows, k)^T -> Y (m, rows); with y0, y0 + X W^T. */
export function matmulRef(w: Float32Array, x: Float32Array, rows: number, k: number, m: number, y0?: Float32Array): Float32Array {
  const y = new Float32Array(m * rows);
  for (let t = 0; t < m; t++) {
    for (let r = 0; r < rows; r++) {
      let s = y0 ? y0[t * rows + r] : 0;
      for (let i = 0; i < k; i++) s += w[r * k + i] * x[t * k + i];
      y[t * rows + r] = s;
    }
  }
  return y;
}

/** Embedding gather: out (ids.length, k) = rows ids[m] of W (rows, k). */
export function embedRef(w: Float32Array, k: number, ids: ArrayLike<number>): Float32Array {
  const out = new Float32Array(ids.length * k);
  for (let m = 0; m < ids.length; m++) out.set(w.subarray(ids[m] * k, ids[m] * k + k), m * k);
  return out;
}
