/** CPU reference for SwiGLU: gu [M, 2*ffn] (gate | up) -> h [M, ffn] = silu(gate) * up, in f64. */
export function siluMulRef(gu: ArrayLike<number>, M: number, ffn: number): Float64Array {
  const h = new Float64Array(M * ffn);
  for (let m = 0; m < M; m++) {
    for (let i = 0; i < ffn; i++) {
      const g = gu[m * 2 * ffn + i];
      h[m * ffn + i] = (g / (1 + Math.exp(-g))) * gu[m * 2 * ffn + ffn + i];
    }
  }
  return h;
}
