// Q8_0 weights, split: wq holds each 34-byte block's qs[32] (i8, two vec4<u32>), ws the f16 d's
// (weights_split_d.wgsl).
// 32 elements per block: value j = qs[j] * d. One chunk = one block, x as it is (weights_plain_x.wgsl).

fn chunk_dot(row: u32, c: u32, xc: XChunk) -> f32 {
  let base = (row * (params.k / BLOCK) + c) * 2u;
  let q0 = wq[base];
  let q1 = wq[base + 1u];
  let s = ((sbytes4(q0.x) * xc.v[0] + sbytes4(q0.y) * xc.v[1]) + (sbytes4(q0.z) * xc.v[2] + sbytes4(q0.w) * xc.v[3]))
        + ((sbytes4(q1.x) * xc.v[4] + sbytes4(q1.y) * xc.v[5]) + (sbytes4(q1.z) * xc.v[6] + sbytes4(q1.w) * xc.v[7]));
  return block_d(row, c) * hsum(s);
}

fn dequant_chunk(row: u32, c: u32) -> array<vec4<f32>, 8> {
  let base = (row * (params.k / BLOCK) + c) * 2u;
  let q0 = wq[base];
  let q1 = wq[base + 1u];
  let d = block_d(row, c);
  return array<vec4<f32>, 8>(
    sbytes4(q0.x) * d, sbytes4(q0.y) * d, sbytes4(q0.z) * d, sbytes4(q0.w) * d,
    sbytes4(q1.x) * d, sbytes4(q1.y) * d, sbytes4(q1.z) * d, sbytes4(q1.w) * d,
  );
}
