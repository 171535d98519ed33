// For the formats that take x as it is (F32, F16, BF16, Q8_0): chunk c is the CHUNK_VECS
// consecutive x vec4 from c * CHUNK_VECS, with nothing precomputed.

fn chunk_vec(c: u32, j: u32) -> u32 {
  return c * CHUNK_VECS + j;
}

struct XChunk {
  v: array<vec4<f32>, CHUNK_VECS>,
}

fn prep_x(v: array<vec4<f32>, CHUNK_VECS>) -> XChunk {
  return XChunk(v);
}
