// Q4_K weights: the file's 144-byte super-blocks as they are, 9 vec4<u32> each:
//   [0] = (d|dmin f16 pair, scales[0..3], scales[4..7], scales[8..11]),  [1..8] = qs[128].
// 256 elements per block; qs vec4 j (0..7) covers group g = j/2, l = 16(j%2) .. +16:
// low nibbles -> elements 64g + l (sub-block 2g), high nibbles -> 64g + 32 + l (sub-block 2g+1).
// One chunk = one group g = two qs vec4 = 64 elements (sub-blocks 2g and 2g+1), so a thread loads
// the block head once per 64 weights. y = (d*sc) * q - (dmin*m).

const BLOCK: u32 = 256u;
const CHUNK: u32 = 64u;
const CHUNK_VECS: u32 = 16u;

// Chunk c is x vecs 16c .. 16c + 16: the low run (sub-block 2g) then the high run (2g + 1).
fn chunk_vec(c: u32, j: u32) -> u32 {
  return c * 16u + j;
}

struct XChunk {
  // the activations times LANE_SCALE (see nib_lanes)
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

fn chunk_dot(row: u32, c: u32, xc: XChunk) -> f32 {
  let blk = (row * (params.k / BLOCK) + (c >> 2u)) * 9u;
  let g = c & 3u;
  let head = wq[blk];
  let q0 = wq[blk + 1u + 2u * g];
  let q1 = wq[blk + 2u + 2u * g];
  let dm = unpack2x16float(head.x);
  let sm = kq_scale_min(head, g);
  // per-lane sums of q * x for the low run and the high run, reduced across lanes once
  let lo = ((nib_lanes(q0.x) * xc.v[0] + nib_lanes(q0.y) * xc.v[1]) + (nib_lanes(q0.z) * xc.v[2] + nib_lanes(q0.w) * xc.v[3]))
         + ((nib_lanes(q1.x) * xc.v[4] + nib_lanes(q1.y) * xc.v[5]) + (nib_lanes(q1.z) * xc.v[6] + nib_lanes(q1.w) * xc.v[7]));
  let hi = ((nib_lanes(q0.x >> 4u) * xc.v[8] + nib_lanes(q0.y >> 4u) * xc.v[9]) + (nib_lanes(q0.z >> 4u) * xc.v[10] + nib_lanes(q0.w >> 4u) * xc.v[11]))
         + ((nib_lanes(q1.x >> 4u) * xc.v[12] + nib_lanes(q1.y >> 4u) * xc.v[13]) + (nib_lanes(q1.z >> 4u) * xc.v[14] + nib_lanes(q1.w >> 4u) * xc.v[15]));
  return dm.x * hsum(sm.x * lo + sm.z * hi) - dm.y * (sm.y * xc.s.x + sm.w * xc.s.y);
}

fn dequant_chunk(row: u32, c: u32) -> array<vec4<f32>, 16> {
  let blk = (row * (params.k / BLOCK) + (c >> 2u)) * 9u;
  let g = c & 3u;
  let head = wq[blk];
  let q0 = wq[blk + 1u + 2u * g];
  let q1 = wq[blk + 2u + 2u * g];
  let dm = unpack2x16float(head.x);
  let sm = kq_scale_min(head, g);
  // d*sc and dmin*m are exact in f32 (11 + 6 bits), and so is (d*sc)*q: one rounding, as in llama.cpp.
  let d1 = dm.x * sm.x;
  let m1 = dm.y * sm.y;
  let d2 = dm.x * sm.z;
  let m2 = dm.y * sm.w;
  return array<vec4<f32>, 16>(
    d1 * nib_lo(q0.x) - m1, d1 * nib_lo(q0.y) - m1, d1 * nib_lo(q0.z) - m1, d1 * nib_lo(q0.w) - m1,
    d1 * nib_lo(q1.x) - m1, d1 * nib_lo(q1.y) - m1, d1 * nib_lo(q1.z) - m1, d1 * nib_lo(q1.w) - m1,
    d2 * nib_hi(q0.x) - m2, d2 * nib_hi(q0.y) - m2, d2 * nib_hi(q0.z) - m2, d2 * nib_hi(q0.w) - m2,
    d2 * nib_hi(q1.x) - m2, d2 * nib_hi(q1.y) - m2, d2 * nib_hi(q1.z) - m2, d2 * nib_hi(q1.w) - m2,
  );
}
