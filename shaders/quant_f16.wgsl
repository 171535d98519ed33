// Helpers of the f16-math decoders (shaders/weights_<type>_f16.wgsl), after quant_common.wgsl in
// a module that starts with `enable f16;` (src/kernels/weight-formats.ts weightShader with f16).
//
// Their contract is quant_common.wgsl's, but for dequant_chunk (the decode GEMVs do not call it):
// chunk_dot still returns the chunk's dot product in f32, and the drivers keep summing in f32.
// Inside a chunk:
//   - prep_x scales the chunk's activations by a power of two 2^-e so that the largest |x| is in
//     [0.5, 1) (exact in f32), then rounds them to f16 once; chunk_dot multiplies its f32 result
//     by 2^e. No activation can overflow f16 this way, and only activations under 2^-14 of the
//     chunk's largest one lose bits to f16's subnormal range.
//   - the quant integers (q, q - 8, q - 32, signed q8) are exact in f16 (|q| <= 128); they are
//     multiplied by the f16 activations lane-wise, and each run of one scale (a sub-block, or a
//     whole block) is summed in f16 over at most 8 vec4 per lane: at most 3 f16 additions on any
//     product's path. With integer quants every partial sum is below 8 * 128 = 1024 in magnitude
//     (|x| < 1), far from f16's 65504 (F16 weights: see weights_f16_f16.wgsl).
//   - the per-lane run sums are then widened to f32, and the scales (d, d*sc, dmin*m), the
//     offset terms and the 2^e are applied in f32, as the f32 decoders do.

// Two f16 1024.0: OR-ing an integer v < 1024 into the low 10 bits of each half gives 1024 + v,
// exactly.
const H_MAGIC: u32 = 0x64006400u;

// lo: bytes 0 and 2 of a word in its two halves, hi: bytes 1 and 3, each already masked to fewer
// than 10 bits; the four values as f16, in byte order.
fn h_bytes_masked(lo: u32, hi: u32) -> vec4<f16> {
  let a = bitcast<vec2<f16>>(lo | H_MAGIC);
  let b = bitcast<vec2<f16>>(hi | H_MAGIC);
  return vec4<f16>(a.x, b.x, a.y, b.y) - vec4<f16>(1024.0h);
}

// The four bytes of w (little-endian order), as f16 (exact: 0..255).
fn h_bytes4(w: u32) -> vec4<f16> {
  return h_bytes_masked(w & 0x00FF00FFu, (w >> 8u) & 0x00FF00FFu);
}

// The four low nibbles of w's bytes, as f16.
fn h_nib_lo(w: u32) -> vec4<f16> {
  return h_bytes_masked(w & 0x000F000Fu, (w >> 8u) & 0x000F000Fu);
}

// The four high nibbles of w's bytes, as f16.
fn h_nib_hi(w: u32) -> vec4<f16> {
  return h_nib_lo(w >> 4u);
}

// The four bytes of w as signed 8-bit integers, as f16 (flipping the sign bit adds 128).
fn h_sbytes4(w: u32) -> vec4<f16> {
  return h_bytes4(w ^ 0x80808080u) - vec4<f16>(128.0h);
}

// e with max(m) = f * 2^e, f in [0.5, 1) (0 when m is 0); m holds per-lane maxima of |x|.
fn h_chunk_exp(m: vec4<f32>) -> i32 {
  return frexp(max(max(m.x, m.y), max(m.z, m.w))).exp;
}

// x * 2^-e rounded to f16.
fn h_scaled(v: vec4<f32>, e: i32) -> vec4<f16> {
  return vec4<f16>(ldexp(v, vec4<i32>(-e)));
}
