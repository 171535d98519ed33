// F32 weights: the rows as they are. One chunk = 8 elements = two vec4 (k % 8 == 0).

const BLOCK: u32 = 8u;
const CHUNK: u32 = 8u;
const CHUNK_VECS: u32 = 2u;

fn chunk_vec(c: u32, j: u32) -> u32 {
  return c * 2u + j;
}

struct XChunk {
  v: array<vec4<f32>, 2>,
}

fn prep_x(v: array<vec4<f32>, 2>) -> XChunk {
  return XChunk(v);
}

fn dequant_chunk(row: u32, c: u32) -> array<vec4<f32>, 2> {
  let base = (row * (params.k / CHUNK) + c) * 2u;
  return array<vec4<f32>, 2>(bitcast<vec4<f32>>(wq[base]), bitcast<vec4<f32>>(wq[base + 1u]));
}

fn chunk_dot(row: u32, c: u32, xc: XChunk) -> f32 {
  let w = dequant_chunk(row, c);
  return hsum(w[0] * xc.v[0] + w[1] * xc.v[1]);
}
