// silu(v) = v / (1 + exp(-v)), for silu_mul.wgsl and swiglu_matvec.wgsl. Evaluated as
// v * sigmoid(v) with e = exp(-|v|) <= 1, so no exp overflows for very negative v (llama.cpp's
// v / (1 + expf(-v)) relies on expf giving +inf there).

fn silu(v: f32) -> f32 {
  let e = exp(-abs(v));
  let sigmoid = select(e, 1.0, v >= 0.0) / (1.0 + e);
  return v * sigmoid;
}
