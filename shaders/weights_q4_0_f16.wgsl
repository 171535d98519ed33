// Q4_0 with f16 math (quant_f16.wgsl; the layout is weights_q4_0.wgsl's): the signed values q - 8
// (-8..7, exact in f16) times the f16 activations, the block's 32 products summed per lane in
// f16, then y = 2^e * d * sum_lanes in f32. The offset is folded into the integers.

fn chunk_vec(c: u32, j: u32) -> u32 {
  return c * 8u + j;
}

struct XChunk {
  // x * 2^-e in f16, the largest |x| in [0.5, 1)
  h: array<vec4<f16>, 8>,
  // 2^e
  scale: f32,
}

fn prep_x(v: array<vec4<f32>, 8>) -> XChunk {
  var m = vec4<f32>();
  for (var j = 0u; j < 8u; j++) {
    m = max(m, abs(v[j]));
  }
  let e = h_chunk_exp(m);
  var h: array<vec4<f16>, 8>;
  for (var j = 0u; j < 8u; j++) {
    h[j] = h_scaled(v[j], e);
  }
  return XChunk(h, ldexp(1.0, e));
}

fn chunk_dot(row: u32, c: u32, xc: XChunk) -> f32 {
  let q = wq[row * (params.k / BLOCK) + c];
  let eight = vec4<f16>(8.0h);
  let lo = ((h_nib_lo(q.x) - eight) * xc.h[0] + (h_nib_lo(q.y) - eight) * xc.h[1]) + ((h_nib_lo(q.z) - eight) * xc.h[2] + (h_nib_lo(q.w) - eight) * xc.h[3]);
  let hi = ((h_nib_hi(q.x) - eight) * xc.h[4] + (h_nib_hi(q.y) - eight) * xc.h[5]) + ((h_nib_hi(q.z) - eight) * xc.h[6] + (h_nib_hi(q.w) - eight) * xc.h[7]);
  return (xc.scale * block_d(row, c)) * hsum(vec4<f32>(lo + hi));
}
