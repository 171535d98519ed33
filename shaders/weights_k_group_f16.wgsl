// weights_k_group.wgsl for the f16-math decoders of Q4_K and Q5_K (see quant_f16.wgsl): the same
// chunks (one group g = sub-blocks 2g and 2g+1 = 64 elements), the activations scaled by 2^-e and
// rounded to f16; the sums for the min terms stay f32, from the unrounded activations.

fn chunk_vec(c: u32, j: u32) -> u32 {
  return c * 16u + j;
}

struct XChunk {
  // x * 2^-e in f16, the largest |x| in [0.5, 1)
  h: array<vec4<f16>, 16>,
  // sums of the low-run and high-run activations (f32, unscaled), for the min terms
  s: vec2<f32>,
  // 2^e
  scale: f32,
}

fn prep_x(v: array<vec4<f32>, 16>) -> XChunk {
  let lo = ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]));
  let hi = ((v[8] + v[9]) + (v[10] + v[11])) + ((v[12] + v[13]) + (v[14] + v[15]));
  var m = vec4<f32>();
  for (var j = 0u; j < 16u; j++) {
    m = max(m, abs(v[j]));
  }
  let e = h_chunk_exp(m);
  var h: array<vec4<f16>, 16>;
  for (var j = 0u; j < 16u; j++) {
    h[j] = h_scaled(v[j], e);
  }
  return XChunk(h, vec2<f32>(hsum(lo), hsum(hi)), ldexp(1.0, e));
}
