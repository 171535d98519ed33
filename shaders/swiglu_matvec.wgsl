// Phi-3's feed-forward input side in one dispatch: [RMSNorm +] gate/up projection + SwiGLU.
//   x' = x * inv_rms * g       (NORM; inv_rms = 1 / sqrt(sum_k x[k]^2 / k + eps)), else x' = x
//   a = sum_k W[r, k] x'[k]     (gate row r)
//   b = sum_k W[up_row + r, k] x'[k]   (up row r; up_row = ffn for the fused ffn_up weight)
//   h[y_offset + r] (+)= silu(a) * b     for r in 0 .. rows - 1  (rows = ffn)
// Replaces ffn_norm (rmsnorm) + ffn_up (matvec) + silu_mul. The gate and up rows must be in the
// same weight buffers (an unsplit ffn_up, or a part holding both row ranges).
//
// Module = quant_common.wgsl + weights_<type>.wgsl + linear_bindings.wgsl + gemv_common.wgsl
//          + gemv_norm.wgsl + silu.wgsl + this file + reduce_{tree,subgroup}.wgsl.
// Bindings: linear_bindings.wgsl's 0..4 (y = h; params: k, rows, y_offset, accumulate, eps, up_row,
//           parts4) and gemv_norm.wgsl's 5 (g, not read unless NORM; or with PRESCALED the
//           partial sums of squares).
// Dispatch: (ceil(rows / ((ROWS - 1) / 2)), 1, 1) workgroups of WG threads.
//
// A workgroup owns R = (ROWS - 1) / 2 output rows: it reads gate rows r0 .. r0 + R and up rows
// up_row + r0 .. + R, reusing each thread's x chunk for all 2R dot products (as matvec.wgsl).
// Reduction row 2R carries sum x^2 (see norm_matvec.wgsl); thread r gets its gate sum from the
// reduction and reads its up row's and the sum of squares with reduced_row (no second barrier).
// Rows past the end are skipped (the row loop runs over the rows that exist).

// 2 * (output rows per workgroup) + 1, at most MAX_ROWS.
override ROWS: u32 = 17u;
const MAX_ROWS: u32 = 33u;
override NORM: bool = true;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, ids: ReduceIds) {
  let lid = ids.lid;
  let nout = (ROWS - 1u) / 2u;
  let row0 = wid.x * nout;
  // Output rows this workgroup really has (a run-time bound: see norm_matvec.wgsl); dot product
  // r < nlive is gate row row0 + r, r = nout + i the up row of gate row row0 + i.
  let nlive = min(nout, params.rows - row0);
  let nchunks = params.k / CHUNK;
  var acc: array<f32, MAX_ROWS>;
  var sq = vec4<f32>();
  for (var c = lid; c < nchunks; c += WG) {
    var v: array<vec4<f32>, CHUNK_VECS>;
    for (var j = 0u; j < CHUNK_VECS; j++) {
      v[j] = norm_x(chunk_vec(c, j), NORM, &sq);
    }
    let xc = prep_x(v);
    for (var r = 0u; r < nlive; r++) {
      acc[r] += chunk_dot(row0 + r, c, xc);
      acc[nout + r] += chunk_dot(params.up_row + row0 + r, c, xc);
    }
  }
  if (NORM && PRESCALED) {
    sq += handed_off_squares(lid);
  }
  acc[2u * nout] = hsum(sq);
  let total = reduce_rows(ids, acc);
  // each thread reads its up row and the sum of squares itself (reduced_row): no second barrier
  var s = 1.0;
  if (NORM) {
    s = rms_scale(reduced_row(ids, 2u * nout));
  }
  if (lid < nlive) {
    let a = total * s;
    let b = reduced_row(ids, nout + lid) * s;
    store_y(params.y_offset + row0 + lid, silu(a) * b);
  }
}
