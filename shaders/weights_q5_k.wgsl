// Q5_K weights: the file's 176-byte super-blocks as they are, 11 vec4<u32> each:
//   [0] = (d|dmin, scales[12]) as in Q4_K,  [1..2] = qh[32],  [3..10] = qs[128].
// Like Q4_K plus a fifth bit: qs vec4 j (group g = j/2, l = 16(j%2) .. +16) pairs with qh vec4 j%2
// (qh[l]); bit 2g of qh[l] is bit 4 of the low-nibble value, bit 2g+1 of the high-nibble value.

const BLOCK: u32 = 256u;
const CHUNK: u32 = 32u;
const CHUNK_VECS: u32 = 8u;

fn chunk_vec(c: u32, j: u32) -> u32 {
  let base = (c >> 3u) * 64u + ((c >> 1u) & 3u) * 16u + (c & 1u) * 4u;
  return base + (j & 3u) + (j >> 2u) * 8u;
}

struct XChunk {
  // the activations times LANE_SCALE (see lanes)
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

// The 5-bit values of one qs word: low run (x) and high run (y) as byte-packed u32s.
fn q5_words(q: u32, h: u32, g: u32) -> vec2<u32> {
  let lo = (q & 0x0F0F0F0Fu) | (((h >> (2u * g)) & 0x01010101u) << 4u);
  let hi = ((q >> 4u) & 0x0F0F0F0Fu) | (((h >> (2u * g + 1u)) & 0x01010101u) << 4u);
  return vec2<u32>(lo, hi);
}

fn chunk_dot(row: u32, c: u32, xc: XChunk) -> f32 {
  let blk = (row * (params.k / BLOCK) + (c >> 3u)) * 11u;
  let g = (c >> 1u) & 3u;
  let head = wq[blk];
  let h = wq[blk + 1u + (c & 1u)];
  let q = wq[blk + 3u + (c & 7u)];
  let dm = unpack2x16float(head.x);
  let sm = kq_scale_min(head, g);
  let a = q5_words(q.x, h.x, g);
  let b = q5_words(q.y, h.y, g);
  let e = q5_words(q.z, h.z, g);
  let f = q5_words(q.w, h.w, g);
  let lo = (lanes(a.x) * xc.v[0] + lanes(b.x) * xc.v[1]) + (lanes(e.x) * xc.v[2] + lanes(f.x) * xc.v[3]);
  let hi = (lanes(a.y) * xc.v[4] + lanes(b.y) * xc.v[5]) + (lanes(e.y) * xc.v[6] + lanes(f.y) * xc.v[7]);
  return dm.x * hsum(sm.x * lo + sm.z * hi) - dm.y * (sm.y * xc.s.x + sm.w * xc.s.y);
}

fn dequant_chunk(row: u32, c: u32) -> array<vec4<f32>, 8> {
  let blk = (row * (params.k / BLOCK) + (c >> 3u)) * 11u;
  let g = (c >> 1u) & 3u;
  let head = wq[blk];
  let h = wq[blk + 1u + (c & 1u)];
  let q = wq[blk + 3u + (c & 7u)];
  let dm = unpack2x16float(head.x);
  let sm = kq_scale_min(head, g);
  let d1 = dm.x * sm.x;
  let m1 = dm.y * sm.y;
  let d2 = dm.x * sm.z;
  let m2 = dm.y * sm.w;
  let a = q5_words(q.x, h.x, g);
  let b = q5_words(q.y, h.y, g);
  let e = q5_words(q.z, h.z, g);
  let f = q5_words(q.w, h.w, g);
  return array<vec4<f32>, 8>(
    d1 * bytes4(a.x) - m1, d1 * bytes4(b.x) - m1, d1 * bytes4(e.x) - m1, d1 * bytes4(f.x) - m1,
    d2 * bytes4(a.y) - m2, d2 * bytes4(b.y) - m2, d2 * bytes4(e.y) - m2, d2 * bytes4(f.y) - m2,
  );
}
