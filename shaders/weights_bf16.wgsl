// BF16 weights: the rows as they are, 8 values per vec4<u32> (word i = elements 2i, 2i+1), one
// vec4 per chunk (weights_float.wgsl); a bf16 is the top half of an f32.

fn bf16_pairs(w: vec2<u32>) -> vec4<f32> {
  return bitcast<vec4<f32>>(vec4<u32>(w.x << 16u, w.x & 0xFFFF0000u, w.y << 16u, w.y & 0xFFFF0000u));
}

fn dequant_chunk(row: u32, c: u32) -> array<vec4<f32>, 2> {
  let w = wq[row * (params.k / CHUNK) + c];
  return array<vec4<f32>, 2>(bf16_pairs(w.xy), bf16_pairs(w.zw));
}
