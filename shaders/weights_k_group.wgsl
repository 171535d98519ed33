// What Q4_K and Q5_K share (weights_q4_k.wgsl, weights_q5_k.wgsl): 256-element super-blocks of
// eight 32-element sub-blocks, value = (d*sc) * q - (dmin*m) with a 6-bit (sc, m) per sub-block,
// the block's first vec4 its head (d|dmin, scales[12]). One chunk = one group g (0..3) = sub-blocks
// 2g and 2g+1 = 64 elements, so a thread decodes the head once per 64 weights.

// Chunk c is x vecs 16c .. 16c + 16: the low run (sub-block 2g) then the high run (2g + 1).
fn chunk_vec(c: u32, j: u32) -> u32 {
  return c * 16u + j;
}

struct XChunk {
  // the activations times LANE_SCALE (see lanes, nib_lanes)
  v: array<vec4<f32>, 16>,
  // sums of the low-run and high-run activations, for the min terms
  s: vec2<f32>,
}

fn prep_x(v: array<vec4<f32>, 16>) -> XChunk {
  let lo = ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]));
  let hi = ((v[8] + v[9]) + (v[10] + v[11])) + ((v[12] + v[13]) + (v[14] + v[15]));
  var xs: array<vec4<f32>, 16>;
  for (var j = 0u; j < 16u; j++) {
    xs[j] = v[j] * LANE_SCALE;
  }
  return XChunk(xs, vec2<f32>(hsum(lo), hsum(hi)));
}
