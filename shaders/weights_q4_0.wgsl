// Q4_0 weights, split: wq holds each 18-byte block's qs[16] (one vec4<u32>), ws the f16 d's
// (weights_split_d.wgsl).
// 32 elements per block: byte j of qs -> element j (low nibble) and j + 16 (high nibble);
// value = (q - 8) * d. One chunk = one block.

fn chunk_vec(c: u32, j: u32) -> u32 {
  return c * 8u + j;
}

struct XChunk {
  // the activations times LANE_SCALE (see nib_lanes)
  v: array<vec4<f32>, 8>,
  // sum of the 32 activations, for the -8 offset
  s: f32,
}

fn prep_x(v: array<vec4<f32>, 8>) -> XChunk {
  var xs: array<vec4<f32>, 8>;
  for (var j = 0u; j < 8u; j++) {
    xs[j] = v[j] * LANE_SCALE;
  }
  return XChunk(xs, hsum(((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]))));
}

fn chunk_dot(row: u32, c: u32, xc: XChunk) -> f32 {
  let q = wq[row * (params.k / BLOCK) + c];
  let d = block_d(row, c);
  let lo = (nib_lanes(q.x) * xc.v[0] + nib_lanes(q.y) * xc.v[1]) + (nib_lanes(q.z) * xc.v[2] + nib_lanes(q.w) * xc.v[3]);
  let hi = (nib_lanes(q.x >> 4u) * xc.v[4] + nib_lanes(q.y >> 4u) * xc.v[5]) + (nib_lanes(q.z >> 4u) * xc.v[6] + nib_lanes(q.w >> 4u) * xc.v[7]);
  return d * (hsum(lo + hi) - 8.0 * xc.s);
}

fn dequant_chunk(row: u32, c: u32) -> array<vec4<f32>, 8> {
  let q = wq[row * (params.k / BLOCK) + c];
  let d = block_d(row, c);
  return array<vec4<f32>, 8>(
    (nib_lo(q.x) - 8.0) * d, (nib_lo(q.y) - 8.0) * d, (nib_lo(q.z) - 8.0) * d, (nib_lo(q.w) - 8.0) * d,
    (nib_hi(q.x) - 8.0) * d, (nib_hi(q.y) - 8.0) * d, (nib_hi(q.z) - 8.0) * d, (nib_hi(q.w) - 8.0) * d,
  );
}
