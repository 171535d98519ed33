/** CPU reference for the residual add: y + x, element by element, rounded to f32 once as the GPU does. */
export function addRef(y: ArrayLike<number>, x: ArrayLike<number>): Float32Array {
  const out = new Float32Array(y.length);
  for (let i = 0; i < y.length; i++) out[i] = y[i] + x[i];
  return out;
}
