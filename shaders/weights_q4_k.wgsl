// Q4_K weights: the file's 144-byte super-blocks as they are, 9 vec4<u32> each:
//   [0] = (d|dmin f16 pair, scales[0..3], scales[4..7], scales[8..11]),  [1..8] = qs[128].
// 256 elements per block; qs vec4 j (0..7) covers group g = j/2, l = 16(j%2) .. +16:
// low nibbles -> elements 64g + l (sub-block 2g), high nibbles -> 64g + 32 + l (sub-block 2g+1).
// One chunk = one qs vec4 = 32 elements: 16 low + 16 high. y = (d*sc) * q - (dmin*m).

const BLOCK: u32 = 256u;
const CHUNK: u32 = 32u;
const CHUNK_VECS: u32 = 8u;

// Values 0..3 of chunk c are the low-nibble run, 4..7 the high-nibble run 32 elements later.
fn chunk_vec(c: u32, j: u32) -> u32 {
  let base = (c >> 3u) * 64u + ((c >> 1u) & 3u) * 16u + (c & 1u) * 4u;
  return base + (j & 3u) + (j >> 2u) * 8u;
}

struct XChunk {
  // the activations times LANE_SCALE (see nib_lanes)
  v: array<vec4<f32>, 8>,
  // sums of the low-run and high-run activations, for the min terms
  s: vec2<f32>,
}

fn prep_x(v: array<vec4<f32>, 8>) -> XChunk {
  let lo = (v[0] + v[1]) + (v[2] + v[3]);
  let hi = (v[4] + v[5]) + (v[6] + v[7]);
  var xs: array<vec4<f32>, 8>;
  for (var j = 0u; j < 8u; j++) {
    xs[j] = v[j] * LANE_SCALE;
  }
  return XChunk(xs, vec2<f32>(hsum(lo), hsum(hi)));
}

fn chunk_dot(row: u32, c: u32, xc: XChunk) -> f32 {
  let blk = (row * (params.k / BLOCK) + (c >> 3u)) * 9u;
  let head = wq[blk];
  let q = wq[blk + 1u + (c & 7u)];
  let dm = unpack2x16float(head.x);
  let sm = kq_scale_min(head, (c >> 1u) & 3u);
  // per-lane sums of q * x for the low run and the high run, reduced across lanes once
  let lo = (nib_lanes(q.x) * xc.v[0] + nib_lanes(q.y) * xc.v[1]) + (nib_lanes(q.z) * xc.v[2] + nib_lanes(q.w) * xc.v[3]);
  let hi = (nib_lanes(q.x >> 4u) * xc.v[4] + nib_lanes(q.y >> 4u) * xc.v[5]) + (nib_lanes(q.z >> 4u) * xc.v[6] + nib_lanes(q.w >> 4u) * xc.v[7]);
  return dm.x * hsum(sm.x * lo + sm.z * hi) - dm.y * (sm.y * xc.s.x + sm.w * xc.s.y);
}

fn dequant_chunk(row: u32, c: u32) -> array<vec4<f32>, 8> {
  let blk = (row * (params.k / BLOCK) + (c >> 3u)) * 9u;
  let head = wq[blk];
  let q = wq[blk + 1u + (c & 7u)];
  let dm = unpack2x16float(head.x);
  let sm = kq_scale_min(head, (c >> 1u) & 3u);
  // d*sc and dmin*m are exact in f32 (11 + 6 bits), and so is (d*sc)*q: one rounding, as in llama.cpp.
  let d1 = dm.x * sm.x;
  let m1 = dm.y * sm.y;
  let d2 = dm.x * sm.z;
  let m2 = dm.y * sm.w;
  return array<vec4<f32>, 8>(
    d1 * nib_lo(q.x) - m1, d1 * nib_lo(q.y) - m1, d1 * nib_lo(q.z) - m1, d1 * nib_lo(q.w) - m1,
    d2 * nib_hi(q.x) - m2, d2 * nib_hi(q.y) - m2, d2 * nib_hi(q.z) - m2, d2 * nib_hi(q.w) - m2,
  );
}
