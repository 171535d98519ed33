// Q5_K with f16 math (quant_f16.wgsl; the layout and q5_words are weights_q5_k.wgsl's): the 5-bit
// values q (0..31) times the f16 activations, each qs vec4's share of a run (16 elements) summed
// per lane in f16, then scaled as weights_q4_k_f16.wgsl does.

// The 5-bit values of one qs word: low run (x) and high run (y) as byte-packed u32s.
fn q5h_words(q: u32, h: u32, g: u32) -> vec2<u32> {
  let lo = (q & 0x0F0F0F0Fu) | (((h >> (2u * g)) & 0x01010101u) << 4u);
  let hi = ((q >> 4u) & 0x0F0F0F0Fu) | (((h >> (2u * g + 1u)) & 0x01010101u) << 4u);
  return vec2<u32>(lo, hi);
}

// Per-lane f16 sums of the low and high runs of one qs vec4 with its qh vec4, dotted with x vecs
// o.. (low) and o + 8.. (high), widened to f32.
fn q5h_dot(q: vec4<u32>, h: vec4<u32>, g: u32, xc: XChunk, o: u32) -> array<vec4<f32>, 2> {
  let a = q5h_words(q.x, h.x, g);
  let b = q5h_words(q.y, h.y, g);
  let e = q5h_words(q.z, h.z, g);
  let f = q5h_words(q.w, h.w, g);
  let lo = (h_bytes4(a.x) * xc.h[o] + h_bytes4(b.x) * xc.h[o + 1u]) + (h_bytes4(e.x) * xc.h[o + 2u] + h_bytes4(f.x) * xc.h[o + 3u]);
  let hi = (h_bytes4(a.y) * xc.h[o + 8u] + h_bytes4(b.y) * xc.h[o + 9u]) + (h_bytes4(e.y) * xc.h[o + 10u] + h_bytes4(f.y) * xc.h[o + 11u]);
  return array<vec4<f32>, 2>(vec4<f32>(lo), vec4<f32>(hi));
}

fn chunk_dot(row: u32, c: u32, xc: XChunk) -> f32 {
  let blk = (row * (params.k / BLOCK) + (c >> 2u)) * 11u;
  let g = c & 3u;
  let head = wq[blk];
  let d0 = q5h_dot(wq[blk + 3u + 2u * g], wq[blk + 1u], g, xc, 0u);
  let d1 = q5h_dot(wq[blk + 4u + 2u * g], wq[blk + 2u], g, xc, 4u);
  let dm = unpack2x16float(head.x);
  let sm = kq_scale_min(head, g);
  return (xc.scale * dm.x) * hsum(sm.x * (d0[0] + d1[0]) + sm.z * (d0[1] + d1[1])) - dm.y * (sm.y * xc.s.x + sm.w * xc.s.y);
}
