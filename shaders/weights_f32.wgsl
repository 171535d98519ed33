// F32 weights: the rows as they are, one vec4<u32> = 4 elements (chunks as in weights_float.wgsl).

fn dequant_chunk(row: u32, c: u32) -> array<vec4<f32>, 2> {
  let base = (row * (params.k / CHUNK) + c) * 2u;
  return array<vec4<f32>, 2>(bitcast<vec4<f32>>(wq[base]), bitcast<vec4<f32>>(wq[base + 1u]));
}
