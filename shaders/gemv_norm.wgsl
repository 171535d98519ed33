// Shared by the decode GEMVs with the RMSNorm of x fused in (norm_matvec.wgsl, swiglu_matvec.wgsl):
//   x' = x * inv_rms * g,  inv_rms = 1 / sqrt(sum_k x[k]^2 / k + eps)
// The dot products use x * g and the scale is applied to the reduced sums (it is linear); sum x^2
// is reduced as one extra row of the reduction.
//
// Binding (group 0), after gemv_common.wgsl's:
//   5  g  storage, read  array<vec4<f32>>  [k]  the norm weight; with PRESCALED, the writer's
//                                               partial sums of squares [params.parts4]
//
// PRESCALED: x is already x * g and the sum of x^2 comes in parts (binding 5: the partial sums a
// matvec_store_norm.wgsl dispatch wrote, params.parts4 vec4 of them): no g loads, no squaring.
// Same result up to the order of the f32 additions in sum x^2.
override PRESCALED: bool = false;

@group(0) @binding(5) var<storage, read> g: array<vec4<f32>>;

// PRESCALED: this thread's share of the handed-off partial sums of squares.
fn handed_off_squares(lid: u32) -> vec4<f32> {
  return handed_off_squares_strided(lid, WG);
}

// PRESCALED: the share of the handed-off partial sums of the `first`-th of `stride` threads
// that split them (a whole workgroup, or a row group: gemv_groups.wgsl).
fn handed_off_squares_strided(first: u32, stride: u32) -> vec4<f32> {
  var sq = vec4<f32>();
  for (var p = first; p < params.parts4; p += stride) {
    sq += g[p];
  }
  return sq;
}

// Vector i of x as the dot products use it, for the chunk loops of both kernels: with `norm` and
// not PRESCALED, x * g, adding x^2 to *sq (this thread's share of sum x^2); else x as bound (already
// x * g with PRESCALED, or no norm). Returns one vector: the chunk's local array stays in the
// caller, indexed by the caller's loop.
fn norm_x(i: u32, norm: bool, sq: ptr<function, vec4<f32>>) -> vec4<f32> {
  let xv = x[i];
  if (norm && !PRESCALED) {
    *sq += xv * xv;
    return xv * g[i];
  }
  return xv;
}

// inv_rms from the reduced sum of x^2 (after reduce_rows, in any thread: the reduction row
// holding it, read with reduced_row; in a row group: the group's own sum).
fn rms_scale(sum_sq: f32) -> f32 {
  return inverseSqrt(sum_sq / f32(params.k) + params.eps);
}
