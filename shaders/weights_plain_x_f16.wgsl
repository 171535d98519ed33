// weights_plain_x.wgsl for the f16-math decoders (Q8_0, F16; see quant_f16.wgsl): chunk c is the
// CHUNK_VECS consecutive x vec4 from c * CHUNK_VECS, scaled by 2^-e and rounded to f16.

fn chunk_vec(c: u32, j: u32) -> u32 {
  return c * CHUNK_VECS + j;
}

struct XChunk {
  // x * 2^-e in f16, the largest |x| in [0.5, 1)
  h: array<vec4<f16>, CHUNK_VECS>,
  // 2^e
  scale: f32,
}

fn prep_x(v: array<vec4<f32>, CHUNK_VECS>) -> XChunk {
  var m = vec4<f32>();
  for (var j = 0u; j < CHUNK_VECS; j++) {
    m = max(m, abs(v[j]));
  }
  let e = h_chunk_exp(m);
  var h: array<vec4<f16>, CHUNK_VECS>;
  for (var j = 0u; j < CHUNK_VECS; j++) {
    h[j] = h_scaled(v[j], e);
  }
  return XChunk(h, ldexp(1.0, e));
}
