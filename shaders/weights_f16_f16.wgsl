// F16 weights with f16 math (quant_f16.wgsl; the layout is weights_f16.wgsl's): the weights as
// they are (bitcast, no conversion) times the f16 activations (weights_plain_x_f16.wgsl), one
// f16 add per lane, then y = 2^e * sum_lanes in f32. |x| < 1 after the scaling, so a lane's
// partial sum can overflow f16 only where two weights' magnitudes add to more than 65504.

fn chunk_dot(row: u32, c: u32, xc: XChunk) -> f32 {
  let w = wq[row * (params.k / CHUNK) + c];
  let s = bitcast<vec4<f16>>(w.xy) * xc.h[0] + bitcast<vec4<f16>>(w.zw) * xc.h[1];
  return xc.scale * hsum(vec4<f32>(s));
}
