// Q4_K weights: the file's 144-byte super-blocks as they are, 9 vec4<u32> each:
//   [0] = (d|dmin f16 pair, scales[0..3], scales[4..7], scales[8..11]),  [1..8] = qs[128].
// 256 elements per block; qs vec4 j (0..7) covers group g = j/2, l = 16(j%2) .. +16:
// low nibbles -> elements 64g + l (sub-block 2g), high nibbles -> 64g + 32 + l (sub-block 2g+1).
// One chunk = one group g (weights_k_group.wgsl) = two qs vec4. y = (d*sc) * q - (dmin*m).

// The chunk's two qs vec4 and its block head: (d, dmin) and (sc, m) of sub-blocks 2g and 2g+1.
struct Q4Chunk {
  q0: vec4<u32>,
  q1: vec4<u32>,
  dm: vec2<f32>,
  sm: vec4<f32>,
}

fn q4_load(row: u32, c: u32) -> Q4Chunk {
  let blk = (row * (params.k / BLOCK) + (c >> 2u)) * 9u;
  let g = c & 3u;
  let head = wq[blk];
  let q0 = wq[blk + 1u + 2u * g];
  let q1 = wq[blk + 2u + 2u * g];
  return Q4Chunk(q0, q1, unpack2x16float(head.x), kq_scale_min(head, g));
}

fn chunk_dot(row: u32, c: u32, xc: XChunk) -> f32 {
  let w = q4_load(row, c);
  let q0 = w.q0;
  let q1 = w.q1;
  // per-lane sums of q * x for the low run and the high run, reduced across lanes once
  let lo = ((nib_lanes(q0.x) * xc.v[0] + nib_lanes(q0.y) * xc.v[1]) + (nib_lanes(q0.z) * xc.v[2] + nib_lanes(q0.w) * xc.v[3]))
         + ((nib_lanes(q1.x) * xc.v[4] + nib_lanes(q1.y) * xc.v[5]) + (nib_lanes(q1.z) * xc.v[6] + nib_lanes(q1.w) * xc.v[7]));
  let hi = ((nib_lanes(q0.x >> 4u) * xc.v[8] + nib_lanes(q0.y >> 4u) * xc.v[9]) + (nib_lanes(q0.z >> 4u) * xc.v[10] + nib_lanes(q0.w >> 4u) * xc.v[11]))
         + ((nib_lanes(q1.x >> 4u) * xc.v[12] + nib_lanes(q1.y >> 4u) * xc.v[13]) + (nib_lanes(q1.z >> 4u) * xc.v[14] + nib_lanes(q1.w >> 4u) * xc.v[15]));
  return w.dm.x * hsum(w.sm.x * lo + w.sm.z * hi) - w.dm.y * (w.sm.y * xc.s.x + w.sm.w * xc.s.y);
}

fn dequant_chunk(row: u32, c: u32) -> array<vec4<f32>, 16> {
  let w = q4_load(row, c);
  let q0 = w.q0;
  let q1 = w.q1;
  // d*sc and dmin*m are exact in f32 (11 + 6 bits), and so is (d*sc)*q: one rounding, as in llama.cpp.
  let d1 = w.dm.x * w.sm.x;
  let m1 = w.dm.y * w.sm.y;
  let d2 = w.dm.x * w.sm.z;
  let m2 = w.dm.y * w.sm.w;
  return array<vec4<f32>, 16>(
    d1 * nib_lo(q0.x) - m1, d1 * nib_lo(q0.y) - m1, d1 * nib_lo(q0.z) - m1, d1 * nib_lo(q0.w) - m1,
    d1 * nib_lo(q1.x) - m1, d1 * nib_lo(q1.y) - m1, d1 * nib_lo(q1.z) - m1, d1 * nib_lo(q1.w) - m1,
    d2 * nib_hi(q0.x) - m2, d2 * nib_hi(q0.y) - m2, d2 * nib_hi(q0.z) - m2, d2 * nib_hi(q0.w) - m2,
    d2 * nib_hi(q1.x) - m2, d2 * nib_hi(q1.y) - m2, d2 * nib_hi(q1.z) - m2, d2 * nib_hi(q1.w) - m2,
  );
}
