// Shared by the decode GEMVs (matvec.wgsl, norm_matvec.wgsl, swiglu_matvec.wgsl): their uniform
// and the reduction's workgroup memory (the store of an output is gemv_store_y.wgsl, or for a
// split-K matvec matvec_store_split.wgsl). Each driver defines ROWS (rows of
// the reduction per workgroup) and MAX_ROWS (its bound, the length of the per-thread row sums
// that reduce_*.wgsl takes).
//
// Bindings: linear_bindings.wgsl's, with x [k] and y [>= y_offset + rows].

override WG: u32 = 64u;

struct Params {
  k: u32,
  // outputs (swiglu_matvec: ffn)
  rows: u32,
  y_offset: u32,
  // 1: add to y (the residual add fused into a projection), 0: overwrite it
  accumulate: u32,
  // the fused RMSNorm's eps (norm_matvec, swiglu_matvec)
  eps: f32,
  // swiglu_matvec: the first up row of the fused gate/up weight
  up_row: u32,
  // PRESCALED (gemv_norm.wgsl): vec4s of partial sums of squares at binding 5
  parts4: u32,
}

// Per-(row, thread) partial sums for the reduction (reduce_*.wgsl).
var<workgroup> red: array<f32, ROWS * WG>;
