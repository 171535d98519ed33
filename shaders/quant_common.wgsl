// Helpers shared by the weight decoders (shaders/weights_<type>.wgsl). Not a kernel by itself.
//
// A weight-reading shader is the concatenation (src/kernels/weight-formats.ts weightShader)
//   [enable subgroups;]  quant_common.wgsl  BLOCK, CHUNK, CHUNK_VECS  [weights_split_d.wgsl]
//   [weights_plain_x.wgsl [weights_float.wgsl] | weights_k_group.wgsl]  weights_<type>.wgsl
//   <driver>  [reduce_*.wgsl]
// where the driver is a decode GEMV (linear_bindings.wgsl + gemv_common.wgsl + matvec.wgsl,
// norm_matvec.wgsl or swiglu_matvec.wgsl), a prefill GEMM (linear_bindings.wgsl + matmul.wgsl or
// matmul_reg.wgsl, or the one src/kernels/matmul-bcast.ts generates) or embed.wgsl.
//
// Contract between the decoder files of a type and the drivers:
//   the driver declares   @binding(0) wq: array<vec4<u32>>   (repacked blocks, src/model/repack.ts)
//                         params.k: u32                       (elements per weight row)
//   weightShader gives    BLOCK        elements per block (the K granularity)
//                         CHUNK        elements one thread handles at once
//                         CHUNK_VECS   CHUNK / 4
//                         (from its FORMATS table, which the TypeScript side checks rows against)
//   split-d types get     @binding(1) ws: array<u32>, block_d(row, b)   (weights_split_d.wgsl)
//   the decoder gives     chunk_vec(c, j) -> u32     x vec4 index (within a row) of value vec4 j of chunk c
//                         struct XChunk, prep_x(v)   the chunk's activations plus whatever sums it needs
//                         chunk_dot(row, c, xc)      sum over the chunk of W[row, .] * x[.]
//                         dequant_chunk(row, c)      the chunk's weights as f32, in chunk_vec order
// dequant_chunk gives exactly llama.cpp's dequantize_row_* values; chunk_dot may sum in another order.

// The four bytes of w (little-endian order), as f32.
fn bytes4(w: u32) -> vec4<f32> {
  return vec4<f32>((vec4<u32>(w) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(0xFFu));
}

// The four low nibbles / high nibbles of w's bytes, as f32.
fn nib_lo(w: u32) -> vec4<f32> {
  return bytes4(w & 0x0F0F0F0Fu);
}

fn nib_hi(w: u32) -> vec4<f32> {
  return bytes4((w >> 4u) & 0x0F0F0F0Fu);
}

// The four bytes of w as signed 8-bit integers, as f32.
fn sbytes4(w: u32) -> vec4<f32> {
  return vec4<f32>(bitcast<vec4<i32>>(vec4<u32>(w) << vec4<u32>(24u, 16u, 8u, 0u)) >> vec4<u32>(24u));
}

// Signed byte i (0..3) of w.
fn sbyte(w: u32, i: u32) -> f32 {
  return f32(bitcast<i32>(w << (24u - 8u * i)) >> 24u);
}

// Byte lanes without shifting: lane i of the result is byte i of w times 2^(8i). Pair it with
// activations pre-scaled by LANE_SCALE (exact: powers of two) and the products are exactly
// byte * x. Bytes must be < 128 (lane 3 is converted as i32, one instruction on CPUs too).
const LANE_SCALE = vec4<f32>(1.0, 0.00390625, 1.52587890625e-05, 5.9604644775390625e-08);

fn lanes(w: u32) -> vec4<f32> {
  return vec4<f32>(bitcast<vec4<i32>>(vec4<u32>(w) & vec4<u32>(0xFFu, 0xFF00u, 0xFF0000u, 0xFF000000u)));
}

// Low nibbles of w's bytes, as lanes() does.
fn nib_lanes(w: u32) -> vec4<f32> {
  return vec4<f32>(bitcast<vec4<i32>>(vec4<u32>(w) & vec4<u32>(0xFu, 0xF00u, 0xF0000u, 0xF000000u)));
}

fn hsum(v: vec4<f32>) -> f32 {
  return (v.x + v.y) + (v.z + v.w);
}

// Q4_K / Q5_K: the 6-bit (scale, min) of sub-blocks 2g and 2g+1 (g = 0..3) from the block's
// first vec4 (x = d|dmin, y,z,w = scales[12]); llama.cpp's get_scale_min_k4, four at a time.
// Returns (sc(2g), m(2g), sc(2g+1), m(2g+1)).
fn kq_scale_min(head: vec4<u32>, g: u32) -> vec4<f32> {
  var sc: u32;
  var mn: u32;
  if (g < 2u) {
    sc = head.y & 0x3F3F3F3Fu;
    mn = head.z & 0x3F3F3F3Fu;
  } else {
    sc = (head.w & 0x0F0F0F0Fu) | ((head.y >> 2u) & 0x30303030u);
    mn = ((head.w >> 4u) & 0x0F0F0F0Fu) | ((head.z >> 2u) & 0x30303030u);
  }
  let s = 16u * (g & 1u);
  return vec4<f32>(vec4<u32>(sc >> s, mn >> s, sc >> (s + 8u), mn >> (s + 8u)) & vec4<u32>(0xFFu));
}
