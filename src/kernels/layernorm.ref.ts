/**
 * CPU reference for LayerNorm with a pending bias: x [rows, n] (+ pre [n], rounded to f32 as the
 * GPU stores it), then y = (x - mean) / sqrt(var + eps) * w + b, mean and variance summed in f64.
 * Returns y and the updated x.
 */
export function layernormRef(
  x: Float32Array,
  w: Float32Array,
  b: Float32Array,
  pre: Float32Array | undefined,
  rows: number,
  n: number,
  eps: number,
): { y: Float32Array; x: Float32Array } {
  const xs = Float32Array.from(x);
  const y = new Float32Array(rows * n);
  for (let r = 0; r < rows; r++) {
    const o = r * n;
    if (pre) for (let i = 0; i < n; i++) xs[o + i] += pre[i];
    let s = 0;
    for (let i = 0; i < n; i++) s += xs[o + i];
    const mean = s / n;
    let ss = 0;
    for (let i = 0; i < n; i++) ss += (xs[o + i] - mean) ** 2;
    const scale = 1 / Math.sqrt(ss / n + eps);
    for (let i = 0; i < n; i++) y[o + i] = (xs[o + i] - mean) * scale * w[i] + b[i];
  }
  return { y, x: xs };
}
