// Q5_K weights: the file's 176-byte super-blocks as they are, 11 vec4<u32> each:
//   [0] = (d|dmin, scales[12]) as in Q4_K,  [1..2] = qh[32],  [3..10] = qs[128].
// Like Q4_K plus a fifth bit: qs vec4 j (group g = j/2, l = 16(j%2) .. +16) pairs with qh vec4 j%2
// (qh[l]); bit 2g of qh[l] is bit 4 of the low-nibble value, bit 2g+1 of the high-nibble value.
// One chunk = one group g (weights_k_group.wgsl) = two qs vec4 with both qh vec4: the head and qh
// are loaded once per 64 weights.

// The 5-bit values of one qs word: low run (x) and high run (y) as byte-packed u32s.
fn q5_words(q: u32, h: u32, g: u32) -> vec2<u32> {
  let lo = (q & 0x0F0F0F0Fu) | (((h >> (2u * g)) & 0x01010101u) << 4u);
  let hi = ((q >> 4u) & 0x0F0F0F0Fu) | (((h >> (2u * g + 1u)) & 0x01010101u) << 4u);
  return vec2<u32>(lo, hi);
}

// lanes() of the low and high runs of one qs vec4 with its qh vec4, dotted with x vecs o.. (low)
// and o + 8.. (high).
fn q5_dot(q: vec4<u32>, h: vec4<u32>, g: u32, xc: XChunk, o: u32) -> vec2<f32> {
  let a = q5_words(q.x, h.x, g);
  let b = q5_words(q.y, h.y, g);
  let e = q5_words(q.z, h.z, g);
  let f = q5_words(q.w, h.w, g);
  let lo = (lanes(a.x) * xc.v[o] + lanes(b.x) * xc.v[o + 1u]) + (lanes(e.x) * xc.v[o + 2u] + lanes(f.x) * xc.v[o + 3u]);
  let hi = (lanes(a.y) * xc.v[o + 8u] + lanes(b.y) * xc.v[o + 9u]) + (lanes(e.y) * xc.v[o + 10u] + lanes(f.y) * xc.v[o + 11u]);
  return vec2<f32>(hsum(lo), hsum(hi));
}

fn chunk_dot(row: u32, c: u32, xc: XChunk) -> f32 {
  let blk = (row * (params.k / BLOCK) + (c >> 2u)) * 11u;
  let g = c & 3u;
  let head = wq[blk];
  let d0 = q5_dot(wq[blk + 3u + 2u * g], wq[blk + 1u], g, xc, 0u);
  let d1 = q5_dot(wq[blk + 4u + 2u * g], wq[blk + 2u], g, xc, 4u);
  let dm = unpack2x16float(head.x);
  let sm = kq_scale_min(head, g);
  return dm.x * (sm.x * (d0.x + d1.x) + sm.z * (d0.y + d1.y)) - dm.y * (sm.y * xc.s.x + sm.w * xc.s.y);
}

fn dequant_chunk(row: u32, c: u32) -> array<vec4<f32>, 16> {
  let blk = (row * (params.k / BLOCK) + (c >> 2u)) * 11u;
  let g = c & 3u;
  let head = wq[blk];
  let dm = unpack2x16float(head.x);
  let sm = kq_scale_min(head, g);
  let d1 = dm.x * sm.x;
  let m1 = dm.y * sm.y;
  let d2 = dm.x * sm.z;
  let m2 = dm.y * sm.w;
  let h0 = wq[blk + 1u];
  let h1 = wq[blk + 2u];
  let q0 = wq[blk + 3u + 2u * g];
  let q1 = wq[blk + 4u + 2u * g];
  // written out, no loop over the two qs vec4 (see weights_q6_k.wgsl chunk_dot)
  let a0 = q5_words(q0.x, h0.x, g);
  let b0 = q5_words(q0.y, h0.y, g);
  let e0 = q5_words(q0.z, h0.z, g);
  let f0 = q5_words(q0.w, h0.w, g);
  let a1 = q5_words(q1.x, h1.x, g);
  let b1 = q5_words(q1.y, h1.y, g);
  let e1 = q5_words(q1.z, h1.z, g);
  let f1 = q5_words(q1.w, h1.w, g);
  return array<vec4<f32>, 16>(
    d1 * bytes4(a0.x) - m1, d1 * bytes4(b0.x) - m1, d1 * bytes4(e0.x) - m1, d1 * bytes4(f0.x) - m1,
    d1 * bytes4(a1.x) - m1, d1 * bytes4(b1.x) - m1, d1 * bytes4(e1.x) - m1, d1 * bytes4(f1.x) - m1,
    d2 * bytes4(a0.y) - m2, d2 * bytes4(b0.y) - m2, d2 * bytes4(e0.y) - m2, d2 * bytes4(f0.y) - m2,
    d2 * bytes4(a1.y) - m2, d2 * bytes4(b1.y) - m2, d2 * bytes4(e1.y) - m2, d2 * bytes4(f1.y) - m2,
  );
}
