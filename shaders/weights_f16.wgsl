// F16 weights: the rows as they are, 8 halves per vec4<u32> (word i = elements 2i, 2i+1), one
// vec4 per chunk (weights_float.wgsl). Read with unpack2x16float: no `enable f16` needed.

fn dequant_chunk(row: u32, c: u32) -> array<vec4<f32>, 2> {
  let w = wq[row * (params.k / CHUNK) + c];
  return array<vec4<f32>, 2>(
    vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y)),
    vec4<f32>(unpack2x16float(w.z), unpack2x16float(w.w)),
  );
}
