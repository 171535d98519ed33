// F16 weights: the rows as they are, 8 halves per vec4<u32> (word i = elements 2i, 2i+1).
// Read with unpack2x16float: no `enable f16` needed. One chunk = 8 elements (k % 8 == 0).

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
  let w = wq[row * (params.k / CHUNK) + c];
  return array<vec4<f32>, 2>(
    vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y)),
    vec4<f32>(unpack2x16float(w.z), unpack2x16float(w.w)),
  );
}

fn chunk_dot(row: u32, c: u32, xc: XChunk) -> f32 {
  let w = dequant_chunk(row, c);
  return hsum(w[0] * xc.v[0] + w[1] * xc.v[1]);
}
