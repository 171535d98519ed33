// norm_matvec.wgsl in row groups (gemv_groups.wgsl), for GPUs:
//   y[y_offset + r] (+)= sum_k W[r, k] * (x[k] * inv_rms * g[k]),
//   inv_rms = 1 / sqrt(sum_k x[k]^2 / k + eps)
//
// Module = quant_common.wgsl + weights_<type>.wgsl + linear_bindings.wgsl + gemv_common.wgsl
//          + gemv_norm.wgsl + gemv_groups.wgsl (LANES, GROUP_ROWS, NACC = GROUP_ROWS + 1)
//          + this file + reduce_group_{tree,subgroup}.wgsl.
// Bindings: as norm_matvec.wgsl.
// Dispatch: (ceil(rows / ROWS), 1, 1) workgroups of WG threads.
//
// Each row group's lanes cover all of x, so the group sums x^2 itself (accumulator GROUP_ROWS,
// reduced with the dot products); PRESCALED: the group's lanes share the handed-off partial sums.
// Rows past the end are clamped to the last row (computed, never stored): constant trip counts.

// Rows per workgroup: (WG / LANES) * GROUP_ROWS.
override ROWS: u32 = 16u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let at = group_pos(lid);
  let grow0 = wid.x * ROWS + at.group * GROUP_ROWS;
  let last = params.rows - 1u;
  let nchunks = params.k / CHUNK;
  var acc: array<f32, NACC>;
  var sq = vec4<f32>();
  for (var c = at.lane; c < nchunks; c += LANES) {
    var v: array<vec4<f32>, CHUNK_VECS>;
    for (var j = 0u; j < CHUNK_VECS; j++) {
      v[j] = norm_x(chunk_vec(c, j), true, &sq);
    }
    let xc = prep_x(v);
    for (var r = 0u; r < GROUP_ROWS; r++) {
      acc[r] += chunk_dot(min(grow0 + r, last), c, xc);
    }
  }
  if (PRESCALED) {
    sq += handed_off_squares_strided(at.lane, LANES);
  }
  acc[GROUP_ROWS] = hsum(sq);
  let tot = reduce_group(lid, acc);
  let row = grow0 + at.lane;
  if (at.lane < GROUP_ROWS && row < params.rows) {
    store_y(params.y_offset + row, pick(tot, at.lane) * rms_scale(tot[GROUP_ROWS]));
  }
}
