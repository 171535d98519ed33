/** CPU reference for the bias add: y [M, n] + b [n] on every row, rounded to f32 once as the GPU does. */
export function biasAddRef(y: ArrayLike<number>, b: ArrayLike<number>, M: number, n: number): Float32Array {
  const out = new Float32Array(M * n);
  for (let m = 0; m < M; m++) for (let i = 0; i < n; i++) out[m * n + i] = y[m * n + i] + b[i];
  return out;
}
