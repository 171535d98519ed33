// Shared by the decode GEMVs (matvec.wgsl, norm_matvec.wgsl, swiglu_matvec.wgsl): their uniform,
// their bindings 0 and 2..4 (laid out by src/kernels/gemv.ts), the reduction's workgroup memory
// and the store of an output. Each driver defines ROWS (rows of the reduction per workgroup) and
// MAX_ROWS (its bound, the length of the per-thread row sums that reduce_*.wgsl takes).
//
// Bindings (group 0):
//   0  wq      storage, read       array<vec4<u32>>  repacked weight rows [rows, k] (weights_<type>.wgsl)
//   1  ws      storage, read       array<u32>        f16 d pairs (Q4_0, Q8_0, Q6_K only; weights_<type>.wgsl)
//   2  x       storage, read       array<vec4<f32>>  [k]
//   3  y       storage, read_write array<f32>        [>= y_offset + rows]  (may not alias x)
//   4  params  uniform             Params
//   5..        the driver's own

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

@group(0) @binding(0) var<storage, read> wq: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

// Per-(row, thread) partial sums for the reduction (reduce_*.wgsl).
var<workgroup> red: array<f32, ROWS * WG>;

// y[i] = v, or y[i] += v when params.accumulate.
fn store_y(i: u32, v: f32) {
  if (params.accumulate != 0u) {
    y[i] += v;
  } else {
    y[i] = v;
  }
}
