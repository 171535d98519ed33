/**
 * CPU reference for GeGeLU with the up bias: gu [M, 2 ffn] (gelu half | linear half) + b [2 ffn],
 * rounded to f32 as the GPU stores the sum, then in f64:
 * g = min(g, limit), l = clamp(l, -limit, limit), h = g * sigmoid(1.702 g) * (l + 1).
 */
export function gegeluRef(gu: ArrayLike<number>, b: ArrayLike<number>, M: number, ffn: number, limit: number): Float64Array {
  const h = new Float64Array(M * ffn);
  for (let m = 0; m < M; m++) {
    for (let i = 0; i < ffn; i++) {
      const g = Math.min(Math.fround(gu[m * 2 * ffn + i] + b[i]), limit);
      const l = Math.min(Math.max(Math.fround(gu[m * 2 * ffn + ffn + i] + b[ffn + i]), -limit), limit);
      h[m * ffn + i] = (g / (1 + Math.exp(-1.702 * g))) * (l + 1);
    }
  }
  return h;
}
