// What the float formats share (F32, F16, BF16: weights_f32.wgsl, weights_f16.wgsl,
// weights_bf16.wgsl, each giving only dequant_chunk): the rows as they are, one chunk = 8
// consecutive elements = two x vec4 (weights_plain_x.wgsl; k % 8 == 0).

fn chunk_dot(row: u32, c: u32, xc: XChunk) -> f32 {
  let w = dequant_chunk(row, c);
  return hsum(w[0] * xc.v[0] + w[1] * xc.v[1]);
}
