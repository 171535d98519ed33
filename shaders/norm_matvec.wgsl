// RMSNorm fused into the decode matrix-vector product that follows it:
//   y[y_offset + r] (+)= sum_k W[r, k] * (x[k] * inv_rms * g[k]),
//   inv_rms = 1 / sqrt(sum_k x[k]^2 / k + eps)
// for the rows r of one weight tensor, or of one row-range part of a split tensor. Replaces an
// rmsnorm dispatch plus the matvec reading its output (attn_norm + qkv, output_norm + lm_head).
//
// Module = quant_common.wgsl + weights_<type>.wgsl + linear_bindings.wgsl + gemv_common.wgsl
//          + gemv_norm.wgsl + this file + reduce_{tree,subgroup}.wgsl.
// Bindings: linear_bindings.wgsl's 0..4 (params: k, rows, y_offset, accumulate, eps, parts4) and
//           gemv_norm.wgsl's 5 (g, or with PRESCALED the partial sums of squares).
// Dispatch: (ceil(rows / (ROWS - 1)), 1, 1) workgroups of WG threads.
//
// As matvec.wgsl, a workgroup owns ROWS - 1 consecutive rows and its threads stride over the
// chunks of x, covering all of x exactly once: so each workgroup also gets sum x^2 over the
// whole of x from the values it loads anyway, reduced as one extra row (row ROWS - 1) with the
// same reduction. The dot products use x * g; the norm scale is linear and applied to the
// reduced sums: sum_k W (x g inv_rms) = inv_rms * sum_k W (x g). Every thread reads the reduced
// sum of squares itself (reduced_row), so the norm costs no barrier beyond the reduction's.
// With PRESCALED (gemv_norm.wgsl) no workgroup loads g or squares x: the residual projection
// before it hands over x * g and the sums of squares (matvec_store_norm.wgsl).

// Output rows per workgroup plus one (the sum of squares), at most MAX_ROWS.
override ROWS: u32 = 17u;
const MAX_ROWS: u32 = 33u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, ids: ReduceIds) {
  let lid = ids.lid;
  let nrows = ROWS - 1u;
  let row0 = wid.x * nrows;
  // Rows this workgroup really has, a run-time bound: the row loop stays rolled (unrolled row
  // loops measured 2-7x slower on lavapipe) and rows past the end are not computed (their acc
  // stays 0 and is never written).
  let nlive = min(nrows, params.rows - row0);
  let nchunks = params.k / CHUNK;
  var acc: array<f32, MAX_ROWS>;
  var sq = vec4<f32>();
  for (var c = lid; c < nchunks; c += WG) {
    var v: array<vec4<f32>, CHUNK_VECS>;
    for (var j = 0u; j < CHUNK_VECS; j++) {
      v[j] = norm_x(chunk_vec(c, j), true, &sq);
    }
    let xc = prep_x(v);
    for (var r = 0u; r < nlive; r++) {
      acc[r] += chunk_dot(row0 + r, c, xc);
    }
  }
  if (PRESCALED) {
    sq += handed_off_squares(lid);
  }
  acc[nrows] = hsum(sq);
  let total = reduce_rows(ids, acc);
  // every thread reads the sum of squares row itself: no second barrier
  let s = rms_scale(reduced_row(ids, nrows));
  if (lid < nlive) {
    store_y(params.y_offset + row0 + lid, total * s);
  }
}
