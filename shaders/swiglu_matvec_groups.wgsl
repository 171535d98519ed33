// swiglu_matvec.wgsl in row groups (gemv_groups.wgsl), for GPUs:
//   h[y_offset + r] (+)= silu(gate_r . x') * (up_r . x'),  x' = x * inv_rms * g (NORM) or x
//
// Module = quant_common.wgsl + weights_<type>.wgsl + linear_bindings.wgsl + gemv_common.wgsl
//          + gemv_norm.wgsl + silu.wgsl + gemv_groups.wgsl (LANES, GROUP_ROWS output rows,
//          NACC = 2 GROUP_ROWS + 1) + this file + reduce_group_{tree,subgroup}.wgsl.
// Bindings: as swiglu_matvec.wgsl.
// Dispatch: (ceil(rows / ROWS), 1, 1) workgroups of WG threads.
//
// A lane's accumulators: gate rows 0 .. GROUP_ROWS, their up rows GROUP_ROWS .. 2 GROUP_ROWS,
// then sum x^2 (as norm_matvec_groups.wgsl). Output rows past the end are clamped to the last
// one (computed, never stored): constant trip counts.

// Output rows per workgroup: (WG / LANES) * GROUP_ROWS.
override ROWS: u32 = 8u;
override NORM: bool = true;

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
      v[j] = norm_x(chunk_vec(c, j), NORM, &sq);
    }
    let xc = prep_x(v);
    for (var r = 0u; r < GROUP_ROWS; r++) {
      let gate = min(grow0 + r, last);
      acc[r] += chunk_dot(gate, c, xc);
      acc[GROUP_ROWS + r] += chunk_dot(params.up_row + gate, c, xc);
    }
  }
  if (NORM && PRESCALED) {
    sq += handed_off_squares_strided(at.lane, LANES);
  }
  acc[2u * GROUP_ROWS] = hsum(sq);
  let tot = reduce_group(lid, acc);
  var s = 1.0;
  if (NORM) {
    s = rms_scale(tot[2u * GROUP_ROWS]);
  }
  let row = grow0 + at.lane;
  if (at.lane < GROUP_ROWS && row < params.rows) {
    let a = pick(tot, at.lane) * s;
    let b = pick(tot, GROUP_ROWS + at.lane) * s;
    store_y(params.y_offset + row, silu(a) * b);
  }
}
