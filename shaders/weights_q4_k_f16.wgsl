// Q4_K with f16 math (quant_f16.wgsl; the layout is weights_q4_k.wgsl's): the nibbles q (0..15)
// times the f16 activations, each run of 32 (one sub-block) summed per lane in f16, then
//   y = 2^e * d * sum_lanes(sc_lo * lo + sc_hi * hi) - dmin * (m_lo * s_lo + m_hi * s_hi)
// in f32, the min terms from the f32 activation sums.

fn chunk_dot(row: u32, c: u32, xc: XChunk) -> f32 {
  let blk = (row * (params.k / BLOCK) + (c >> 2u)) * 9u;
  let g = c & 3u;
  let head = wq[blk];
  let q0 = wq[blk + 1u + 2u * g];
  let q1 = wq[blk + 2u + 2u * g];
  let dm = unpack2x16float(head.x);
  let sm = kq_scale_min(head, g);
  let lo = ((h_nib_lo(q0.x) * xc.h[0] + h_nib_lo(q0.y) * xc.h[1]) + (h_nib_lo(q0.z) * xc.h[2] + h_nib_lo(q0.w) * xc.h[3]))
         + ((h_nib_lo(q1.x) * xc.h[4] + h_nib_lo(q1.y) * xc.h[5]) + (h_nib_lo(q1.z) * xc.h[6] + h_nib_lo(q1.w) * xc.h[7]));
  let hi = ((h_nib_hi(q0.x) * xc.h[8] + h_nib_hi(q0.y) * xc.h[9]) + (h_nib_hi(q0.z) * xc.h[10] + h_nib_hi(q0.w) * xc.h[11]))
         + ((h_nib_hi(q1.x) * xc.h[12] + h_nib_hi(q1.y) * xc.h[13]) + (h_nib_hi(q1.z) * xc.h[14] + h_nib_hi(q1.w) * xc.h[15]));
  return (xc.scale * dm.x) * hsum(sm.x * vec4<f32>(lo) + sm.z * vec4<f32>(hi)) - dm.y * (sm.y * xc.s.x + sm.w * xc.s.y);
}
