// Q8_0 with f16 math (quant_f16.wgsl; the layout is weights_q8_0.wgsl's): the signed quants
// (-128..127, exact in f16) times the f16 activations (weights_plain_x_f16.wgsl), the block's 32
// products summed per lane in f16, then y = 2^e * d * sum_lanes in f32.

fn chunk_dot(row: u32, c: u32, xc: XChunk) -> f32 {
  let base = (row * (params.k / BLOCK) + c) * 2u;
  let q0 = wq[base];
  let q1 = wq[base + 1u];
  let s = ((h_sbytes4(q0.x) * xc.h[0] + h_sbytes4(q0.y) * xc.h[1]) + (h_sbytes4(q0.z) * xc.h[2] + h_sbytes4(q0.w) * xc.h[3]))
        + ((h_sbytes4(q1.x) * xc.h[4] + h_sbytes4(q1.y) * xc.h[5]) + (h_sbytes4(q1.z) * xc.h[6] + h_sbytes4(q1.w) * xc.h[7]));
  return (xc.scale * block_d(row, c)) * hsum(vec4<f32>(s));
}
